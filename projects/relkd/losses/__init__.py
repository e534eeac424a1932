"""Pure tensor loss functions and masks (no detectron2 state)."""
