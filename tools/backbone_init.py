#!/usr/bin/env python
"""Cut the ResNet out of a trained detector checkpoint, for a DAB-DETR's ``train.init_checkpoint``.

The digits DAB-DETR configs start from the backbones of relkd's digits Faster R-CNNs (nothing
may be downloaded, and DETRs from scratch do not converge in a CPU schedule):

    python tools/backbone_init.py output/digits/faster_rcnn_R50_teacher/model_final.pth \\
        output/digits/backbones/faster_rcnn_R50.pth --stages stem res2 res3 res4
    python tools/backbone_init.py output/digits/faster_rcnn_R18_student/model_final.pth \\
        output/digits/backbones/faster_rcnn_R18.pth --stages stem res2 res3 res4
"""

from __future__ import annotations

import argparse


def main(argv=None) -> None:
    from relkd.utils.checkpoints import STAGES, extract_backbone

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("src", help="detector checkpoint (model_final.pth)")
    p.add_argument("out", help="backbone checkpoint to write")
    p.add_argument("--src-prefix", default="backbone.bottom_up.")
    p.add_argument("--dst-prefix", default="backbone.")
    p.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    args = p.parse_args(argv)
    n = extract_backbone(args.src, args.out, args.src_prefix, args.dst_prefix, tuple(args.stages))
    print(f"wrote {n} tensors to {args.out}")


if __name__ == "__main__":
    main()
