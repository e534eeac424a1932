"""Small helpers shared by the meta-architectures, the teacher and the distillers."""
