#!/usr/bin/env python3
"""Makes tests/fixtures/images/: small inputs for tests/test_image.c and the
results Pillow gives for them (decoded pixels, resizes, EXIF orientation),
which the C test compares against. Needs Pillow and numpy only (the resize
geometry of diffusers' VaeImageProcessor is copied below, so torch is not
needed). Deterministic: running it again gives the same files.

    .venv-tools/bin/python tools/make_image_fixtures.py
"""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "images")
LANCZOS = Image.Resampling.LANCZOS


def save(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def png_bytes(image, **kw):
    b = io.BytesIO()
    image.save(b, "PNG", **kw)
    return b.getvalue()


def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def raw_png(width, height, depth, color, rows):
    """A PNG from raw filtered-free scanlines (for 16-bit colour, which
    Pillow cannot write)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def base_image(w=64, h=48, seed=1):
    """Smooth gradients plus noise and hard edges: exercises resampling."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // (w - 1)).astype(np.int32)
    g = (y * 255 // (h - 1)).astype(np.int32)
    b = ((x + y) * 7 % 256).astype(np.int32)
    a = np.stack([r, g, b], -1) + rng.integers(-40, 41, (h, w, 3))
    a[h // 3:h // 3 + 5, :, :] = [250, 10, 10]  # a hard red band
    a[:, w // 2:w // 2 + 3, :] = [0, 0, 0]      # a black stripe
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


# diffusers 0.35 VaeImageProcessor._resize_and_crop / _resize_and_fill, PIL part.
def resize_crop(image, width, height):
    ratio = width / height
    src_ratio = image.width / image.height
    src_w = width if ratio > src_ratio else image.width * height // image.height
    src_h = height if ratio <= src_ratio else image.height * width // image.width
    resized = image.resize((src_w, src_h), resample=LANCZOS)
    res = Image.new("RGB", (width, height))
    res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
    return res


def resize_fill(image, width, height):
    ratio = width / height
    src_ratio = image.width / image.height
    src_w = width if ratio < src_ratio else image.width * height // image.height
    src_h = height if ratio >= src_ratio else image.height * width // image.width
    resized = image.resize((src_w, src_h), resample=LANCZOS)
    res = Image.new("RGB", (width, height))
    res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
    if ratio < src_ratio:
        fill_height = height // 2 - src_h // 2
        if fill_height > 0:
            res.paste(resized.resize((width, fill_height), box=(0, 0, width, 0)), box=(0, 0))
            res.paste(resized.resize((width, fill_height),
                                     box=(0, resized.height, width, resized.height)),
                      box=(0, fill_height + src_h))
    elif ratio > src_ratio:
        fill_width = width // 2 - src_w // 2
        if fill_width > 0:
            res.paste(resized.resize((fill_width, height), box=(0, 0, 0, height)), box=(0, 0))
            res.paste(resized.resize((fill_width, height),
                                     box=(resized.width, 0, resized.width, height)),
                      box=(fill_width + src_w, 0))
    return res


def main():
    os.makedirs(OUT, exist_ok=True)
    rgb = base_image()
    save("rgb.png", png_bytes(rgb))

    # RGBA: alpha varies; convert("RGB") drops it, so the RGB is rgb.png's.
    alpha = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1)), "L")
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    save("rgba.png", png_bytes(rgba))

    # Palette with transparency, and the RGB Pillow gives for it.
    pal = rgb.quantize(colors=16, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    save("palette.png", png_bytes(pal, transparency=3))
    save("palette_expected.png", png_bytes(Image.open(io.BytesIO(png_bytes(pal, transparency=3))).convert("RGB")))

    # 16-bit RGB: high byte = rgb.png, low byte a pattern (must be discarded).
    # The top-left 32x24 of rgb.png, to stay small.
    a = np.asarray(rgb)[:24, :32].astype(">u2") * 256 + (np.arange(24 * 32 * 3).reshape(24, 32, 3) % 251)
    a = a.astype(">u2")  # arithmetic gave native order; PNG samples are big-endian
    save("rgb16.png", raw_png(32, 24, 16, 2, [row.tobytes() for row in a]))

    # 4-bit grayscale (expanded by bit replication, as PIL's L;4 unpacker).
    g4 = (np.arange(16 * 8, dtype=np.uint8).reshape(8, 16) % 16)
    rows = [bytes((int(r[i]) << 4 | int(r[i + 1])) for i in range(0, 16, 2)) for r in g4]
    save("gray4.png", raw_png(16, 8, 4, 0, rows))
    save("gray4_expected.png", png_bytes(Image.open(os.path.join(OUT, "gray4.png")).convert("RGB")))

    # Interlaced (Adam7) PNG of rgb.png, written by hand-free means: Pillow
    # cannot write interlaced, so filter-0 rows in Adam7 order.
    def adam7(image):
        px = np.asarray(image)
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        raw = b""
        for x0, y0, dx, dy in passes:
            sub = px[y0::dy, x0::dx]
            if sub.size:
                raw += b"".join(b"\x00" + r.tobytes() for r in sub)
        h, w = px.shape[:2]
        ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
                + chunk(b"IEND", b""))
    save("interlaced.png", adam7(rgb))

    # JPEGs and what Pillow decodes them to (libjpeg with the same settings
    # must give the same pixels).
    def jpeg(image, **kw):
        b = io.BytesIO()
        image.save(b, "JPEG", **kw)
        return b.getvalue()
    for name, data in [("gray.jpg", jpeg(rgb.convert("L"), quality=90)),
                       ("progressive.jpg", jpeg(rgb, quality=85, progressive=True)),
                       ("cmyk.jpg", jpeg(rgb.convert("CMYK"), quality=90)),
                       ("baseline.jpg", jpeg(rgb, quality=90))]:
        save(name, data)
        decoded = Image.open(io.BytesIO(data)).convert("RGB")
        save(name.replace(".jpg", "_expected.png"), png_bytes(decoded))
    save("truncated.jpg", jpeg(rgb, quality=90)[:700])

    # WebP.
    def webp(image, **kw):
        b = io.BytesIO()
        image.save(b, "WEBP", **kw)
        return b.getvalue()
    save("lossless.webp", webp(rgb, lossless=True))
    lossy = webp(rgb, quality=80)
    save("lossy.webp", lossy)
    save("lossy_expected.png", png_bytes(Image.open(io.BytesIO(lossy)).convert("RGB")))

    # EXIF orientation: small asymmetric image tagged 2..8, and Pillow's
    # exif_transpose of each.
    small = base_image(8, 6, seed=3)
    for o in range(2, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        data = png_bytes(small, exif=exif.tobytes())
        save(f"orient{o}.png", data)
        save(f"orient{o}_expected.png", png_bytes(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = jpeg(small, quality=95, exif=exif.tobytes())
    save("orient6.jpg", data)
    save("orient6_jpg_expected.png", png_bytes(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")))

    # Parameters written by Pillow as A1111 does (PngInfo.add_text).
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat, caf\u00e9\nSteps: 20, Sampler: Euler a")
    save("params_text.png", png_bytes(small, pnginfo=info))
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "\u732b \U0001F408\nSteps: 20")
    save("params_itxt.png", png_bytes(small, pnginfo=info))
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "zipped caf\u00e9 " + "x" * 200, zip=True)
    save("params_ztxt.png", png_bytes(small, pnginfo=info))
    # A JPEG whose EXIF block is little-endian (Pillow writes "II") holding
    # piexif-style UTF-16BE text.
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + "little \u00e9 endian \u732b".encode("utf-16-be")
    save("params_exif_le.jpg", jpeg(small, quality=90, exif=exif.tobytes()))

    # Resizes (diffusers' modes with Pillow's LANCZOS).
    for name, image in [("resize_stretch_40x30.png", rgb.resize((40, 30), LANCZOS)),
                        ("resize_stretch_100x77.png", rgb.resize((100, 77), LANCZOS)),
                        ("resize_stretch_17x48.png", rgb.resize((17, 48), LANCZOS)),
                        ("resize_crop_32x32.png", resize_crop(rgb, 32, 32)),
                        ("resize_crop_30x70.png", resize_crop(rgb, 30, 70)),
                        ("resize_crop_90x20.png", resize_crop(rgb, 90, 20)),
                        ("resize_fill_32x32.png", resize_fill(rgb, 32, 32)),
                        ("resize_fill_90x20.png", resize_fill(rgb, 90, 20)),
                        ("resize_fill_30x70.png", resize_fill(rgb, 30, 70))]:
        save(name, png_bytes(image))

    # Corrupt and hostile inputs.
    good = png_bytes(rgb)
    save("truncated.png", good[:len(good) // 2])
    bad = bytearray(good)
    idat = bad.find(b"IDAT")
    length = struct.unpack(">I", bad[idat - 4:idat])[0]
    bad[idat + 4 + length] ^= 0x55  # the IDAT chunk's stored CRC
    save("bad_crc.png", bytes(bad))
    rng = np.random.default_rng(7)
    save("junk.jpg", b"\xff\xd8\xff\xe0" + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
    save("empty.png", b"")
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    save("bomb.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
         + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
    b = io.BytesIO()
    small.save(b, "GIF")
    save("tiny.gif", b.getvalue())


if __name__ == "__main__":
    main()
