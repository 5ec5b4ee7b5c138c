"""Draw the Emotion Lens app icon: PNGs at 16..512 px, a Windows .ico and a macOS .icns.

    uv run python packaging/make_icons.py            # writes assets/icons/

The icon is a smiling face seen through a magnifying lens on a rounded teal-to-indigo square.
Every size is drawn from vectors at 4x and downsampled, so small sizes stay crisp. The files in
assets/icons/ are committed; run this again only to change the design. Needs Pillow (installed with
the project's dependencies); `.icns` can also be made on macOS with `iconutil` from the PNGs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

SIZES = (16, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "assets" / "icons"
NAME = "emotion-lens"

TOP = (20, 184, 166)  # teal
BOTTOM = (49, 46, 129)  # indigo
WHITE = (255, 255, 255, 255)
SMILE = (253, 224, 71, 255)  # warm yellow


def _gradient(size: int) -> Image.Image:
    column = Image.new("RGBA", (1, size))
    for y in range(size):
        t = y / max(1, size - 1)
        column.putpixel((0, y), (*(round(a + (b - a) * t) for a, b in zip(TOP, BOTTOM, strict=True)), 255))
    return column.resize((size, size))


def draw(size: int) -> Image.Image:
    """The icon at `size` px (drawn at 4x, downsampled with Lanczos)."""
    s = size * 4
    mask = Image.new("L", (s, s), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, s - 1, s - 1), radius=round(0.22 * s), fill=255)
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    img.paste(_gradient(s), (0, 0), mask)
    d = ImageDraw.Draw(img)

    def px(v: float) -> int:
        return round(v * s)

    # lens: ring centred up-left, handle towards the lower-right corner
    cx, cy, r, ring = 0.44, 0.44, 0.27, 0.055 if size >= 32 else 0.075
    d.line((px(cx + 0.72 * r), px(cy + 0.72 * r), px(0.80), px(0.80)), fill=WHITE, width=px(0.10))
    d.ellipse((px(0.80 - 0.05), px(0.80 - 0.05), px(0.80 + 0.05), px(0.80 + 0.05)), fill=WHITE)
    d.ellipse((px(cx - r), px(cy - r), px(cx + r), px(cy + r)), outline=WHITE, width=px(ring))
    # the face inside the lens: two eyes and a smile
    eye_r = 0.035 if size >= 32 else 0.045
    for ex in (cx - 0.09, cx + 0.09):
        d.ellipse((px(ex - eye_r), px(cy - 0.06 - eye_r), px(ex + eye_r), px(cy - 0.06 + eye_r)),
                  fill=WHITE)
    smile_w = 0.032 if size >= 32 else 0.05
    d.arc((px(cx - 0.13), px(cy - 0.12), px(cx + 0.13), px(cy + 0.13)), start=25, end=155,
          fill=SMILE, width=px(smile_w))
    return img.resize((size, size), Image.Resampling.LANCZOS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    images = {size: draw(size) for size in sorted({*SIZES, *ICO_SIZES, 1024})}
    for size in SIZES:
        images[size].save(args.out / f"{NAME}-{size}.png", optimize=True)
    images[256].save(args.out / f"{NAME}.png", optimize=True)  # the name the .desktop entry uses
    ico_sizes = [(n, n) for n in ICO_SIZES]
    images[256].save(args.out / f"{NAME}.ico", sizes=ico_sizes, append_images=[images[n] for n in ICO_SIZES])
    icns_sizes = (16, 32, 64, 128, 256, 512)
    images[1024].save(args.out / f"{NAME}.icns", append_images=[images[n] for n in icns_sizes])
    print(f"wrote {len(SIZES) + 3} icon files to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
