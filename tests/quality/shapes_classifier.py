"""Reads a generated image of the shapes world back into attributes:
background, object colour, shape, position and count.

Written for this data only (tools/shapes_world.py defines the world): the
background is the world's background template that fits the image best; the
objects are the pixels far from that template; colours are the nearest named
colour. Pillow and numpy only, so it runs in the test venv without torch.

Invariant: classify() never raises on an image of any content; a blank or
noisy image simply reads as wrong attributes (count 0, position None, ...).
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import shapes_world as world  # noqa: E402

SIZE = world.SIZE
OBJECT_DISTANCE = 75  # RGB distance from the background template: an object pixel
HORIZON_SLACK = 3     # rows: a horizon drawn this far off still fits its template
MIN_AREA = 30         # pixels; a small circle covers about 300


def _template(background):
    """The background alone, as a SIZE x SIZE x 3 float array."""
    top, bottom = (np.array(c, dtype=np.float32) for c in world.background_bands(background))
    rows = np.zeros((SIZE, 3), dtype=np.float32)
    horizon = world.SCENES[background][2] if background in world.SCENES else 1.0
    for y in range(SIZE):
        t = (y + 0.5) / SIZE
        if horizon is None:
            rows[y] = top + (bottom - top) * t
        else:
            rows[y] = top if t < horizon else bottom
    return np.broadcast_to(rows[:, None, :], (SIZE, SIZE, 3))


TEMPLATES = {name: _template(name) for name in world.BACKGROUNDS}


def _components(mask):
    """Connected components (4-neighbour) of a boolean mask: a list of
    (area, ys, xs) arrays, largest first."""
    seen = np.zeros_like(mask, dtype=bool)
    height, width = mask.shape
    out = []
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        stack = [(y0, x0)]
        seen[y0, x0] = True
        ys, xs = [], []
        while stack:
            y, x = stack.pop()
            ys.append(y)
            xs.append(x)
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < height and 0 <= nx < width and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        out.append((len(ys), np.array(ys), np.array(xs)))
    out.sort(key=lambda c: -c[0])
    return out


def _distance_to(pixels, background):
    """Per-pixel RGB distance to a background template: to the nearest
    colour between the template rows HORIZON_SLACK above and below the
    pixel's own, so a horizon drawn a few rows off, or blurred into a blend
    of its two bands, is still background."""
    rows = TEMPLATES[background][:, 0, :]
    index = np.arange(SIZE)
    a = rows[np.clip(index - HORIZON_SLACK, 0, SIZE - 1)][:, None, :]
    b = rows[np.clip(index + HORIZON_SLACK, 0, SIZE - 1)][:, None, :]
    span = b - a
    length = (span ** 2).sum(-1, keepdims=True)
    t = np.clip(((pixels - a) * span).sum(-1, keepdims=True) / np.maximum(length, 1e-6), 0, 1)
    return np.sqrt(((pixels - (a + t * span)) ** 2).sum(-1))


def _convex_hull_area(ys, xs):
    """Area of the convex hull of the pixel squares (monotone chain)."""
    points = sorted(set((x + dx, y + dy) for x, y in zip(xs.tolist(), ys.tolist())
                        for dx in (0, 1) for dy in (0, 1)))

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    lower, upper = [], []
    for p in points:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(points):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    return 0.5 * abs(sum(hull[i][0] * hull[i - 1][1] - hull[i - 1][0] * hull[i][1]
                         for i in range(len(hull))))


def _nearest_colour(rgb):
    return min(world.COLOURS, key=lambda name: sum(
        (a - b) ** 2 for a, b in zip(world.COLOURS[name], rgb)))


def _position(cx, cy):
    column = "left" if cx < 0.4 else "right" if cx > 0.6 else None
    row = "top" if cy < 0.4 else "bottom" if cy > 0.6 else None
    if column and row:
        return f"{row} {column}"
    return column or row or "centre"


def _shape(components):
    """The shape of the largest object, from its fill of its bounding box,
    a hole at its centre (ring), or parallel bars (stripes)."""
    area, ys, xs = components[0]
    height, width = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    bars = [c for c in components[:4] if c[0] >= MIN_AREA]
    if len(bars) >= 2:
        elongated = 0
        for _, bys, bxs in bars:
            bh, bw = bys.max() - bys.min() + 1, bxs.max() - bxs.min() + 1
            elongated += max(bh, bw) >= 2.5 * min(bh, bw)
        if elongated >= 2:
            return "stripes"
    if max(height, width) >= 3 * min(height, width):
        return "stripes"
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[ys, xs] = True
    r = max(1, min(height, width) // 8)
    if not mask[cy - r:cy + r + 1, cx - r:cx + r + 1].any():
        return "ring"
    if area < 0.75 * _convex_hull_area(ys, xs):
        return "star"  # the only concave shape left
    fill = area / float(height * width)
    if fill > 0.88:
        return "square"
    if fill > 0.66:
        return "circle"
    return "triangle"


def classify(image):
    """Attributes of a Pillow image: dict with background, colour, shape,
    position (of the largest object), count."""
    pixels = np.asarray(image.convert("RGB").resize((SIZE, SIZE)), dtype=np.float32)
    # The background as drawn: each row's median colour (objects cover less
    # than half of any row), smoothed over neighbouring rows. Its name is the
    # world's background whose template rows are nearest; objects are what
    # differs from the drawn background, so a background drawn a little off
    # its named colour still separates from its objects.
    rows = np.median(pixels, axis=1)
    smooth = np.stack([np.median(rows[max(0, y - 2):y + 3], axis=0) for y in range(SIZE)])
    drawn = np.broadcast_to(smooth[:, None, :], (SIZE, SIZE, 3))
    scores = {name: _distance_to(drawn[:, :1, :], name).mean() for name in TEMPLATES}
    background = min(scores, key=scores.get)
    distance = np.sqrt(((pixels - drawn) ** 2).sum(-1))
    mask = distance > OBJECT_DISTANCE
    components = [c for c in _components(mask) if c[0] >= MIN_AREA]
    result = {"background": background, "colour": None, "shape": None,
              "position": None, "count": len(components)}
    if not components:
        return result
    # The colour of the object's core: its pixels furthest from the background.
    inside = np.zeros((SIZE, SIZE), dtype=bool)
    for _, ys, xs in components:
        inside[ys, xs] = True
    core = inside & (distance >= np.percentile(distance[inside], 30))
    result["colour"] = _nearest_colour(np.median(pixels[core], axis=0))
    result["shape"] = _shape(components)
    _, ys, xs = components[0]
    if result["shape"] == "stripes":
        result["count"] = 1  # three bars are one object
        ys, xs = np.nonzero(inside)
        # The patch's centre: its bars' bounding box, whatever their widths.
        result["position"] = _position((xs.min() + xs.max() + 1) / 2 / SIZE,
                                       (ys.min() + ys.max() + 1) / 2 / SIZE)
    else:
        result["position"] = _position((xs.mean() + 0.5) / SIZE, (ys.mean() + 0.5) / SIZE)
    return result


def expected(scene):
    """The attributes a correct image of a scene has (None: not checked)."""
    return {"background": scene["background"], "colour": scene["colour"],
            "shape": scene["shape"], "position": scene["position"] if scene["count"] == 1 else None,
            "count": scene["count"] if scene["shape"] != "stripes" else None}


ATTRIBUTES = ["background", "colour", "shape", "position", "count"]


def score(results):
    """Accuracy per attribute over (expected, found) pairs: {name: (right, checked)}."""
    out = {}
    for name in ATTRIBUTES:
        checked = [(e[name], f[name]) for e, f in results if e[name] is not None]
        out[name] = (sum(a == b for a, b in checked), len(checked))
    return out
