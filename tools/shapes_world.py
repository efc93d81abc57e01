"""The world of the bundled model: scenes of simple shapes, their captions, and
the reading of an image back into attributes.

One file, imported by the data set generator and trainer
(tools/train_shapes_model.py, torch) and by the quality test
(tests/quality/, Pillow and numpy only, no torch), so that what the model is
taught and what the test checks can never drift apart.

Invariants:
  - A scene is a plain dict (background, shape, colour, size, count, position,
    the object boxes) and its caption is a function of it and of a random
    generator; every random choice goes through the `random.Random` passed in,
    so a seed gives the same data set on every machine.
  - Every object colour is far (in RGB) from both bands of its background, so
    the classifier can always tell object from background.
  - HELD_OUT pairs (colour, shape) and (shape, background) never appear in the
    training scenes; the quality test draws its held-out captions from them.
"""

import math
import random

SIZE = 128  # the model's resolution; scenes are drawn at 2x and reduced

COLOURS = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (245, 220, 30),
    "green": (30, 160, 50),
    "blue": (30, 70, 220),
    "purple": (140, 50, 180),
    "pink": (250, 140, 200),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
    "gray": (128, 128, 128),
}

# Backgrounds: name -> (top colour, bottom colour, horizon as a fraction of
# the height or None for a smooth gradient, phrases). Plain colours have the
# same top and bottom.
SCENES = {
    "sky over sea": ((135, 200, 245), (20, 50, 120), 0.55,
                     ["over the sea", "above a blue sea", "with sky over sea",
                      "over the sea under a light sky"]),
    "dark sea": ((10, 10, 35), (15, 45, 95), 0.6,
                 ["over a dark sea", "above the sea at night",
                  "over a dark sea at night"]),
    "field": ((135, 200, 245), (70, 150, 50), 0.6,
              ["over a green field", "above a field under a blue sky",
               "in the sky over a green field"]),
    "sunset": ((250, 170, 60), (90, 30, 110), None,
               ["in a sunset", "against a sunset sky",
                "on an orange to purple sunset"]),
    "desert": ((135, 200, 245), (225, 195, 120), 0.6,
               ["over a desert", "above the sand of a desert",
                "in the sky over a sandy desert"]),
}

PLAIN_BACKGROUNDS = ["blue", "white", "black", "gray", "green", "yellow",
                     "red", "purple", "pink", "orange"]
BACKGROUNDS = PLAIN_BACKGROUNDS + list(SCENES)

SHAPES = ["circle", "square", "triangle", "star", "ring", "stripes"]
PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles",
          "star": "stars", "ring": "rings", "stripes": "stripes"}

SIZES = {"small": 0.08, "medium": 0.14, "large": 0.22}  # radius / image size

POSITIONS = {
    "centre": (0.5, 0.5), "left": (0.25, 0.5), "right": (0.75, 0.5),
    "top": (0.5, 0.25), "bottom": (0.5, 0.75),
    "top left": (0.25, 0.25), "top right": (0.75, 0.25),
    "bottom left": (0.25, 0.75), "bottom right": (0.75, 0.75),
}
POSITION_PHRASES = {
    "centre": ["in the centre", "in the middle", "at the centre"],
    "left": ["on the left", "at the left", "on the left side"],
    "right": ["on the right", "at the right", "on the right side"],
    "top": ["at the top", "near the top"],
    "bottom": ["at the bottom", "near the bottom"],
    "top left": ["in the top left", "in the upper left corner"],
    "top right": ["in the top right", "in the upper right corner"],
    "bottom left": ["in the bottom left", "in the lower left corner"],
    "bottom right": ["in the bottom right", "in the lower right corner"],
}
COUNT_WORDS = {1: "a", 2: "two", 3: "three"}

# Never in training: the generalisation set of the quality test.
HELD_OUT_COLOUR_SHAPE = {("green", "star"), ("purple", "circle"),
                         ("orange", "square"), ("pink", "triangle"),
                         ("yellow", "ring")}
HELD_OUT_SHAPE_BACKGROUND = {("triangle", "sky over sea"), ("circle", "field"),
                             ("square", "black"), ("star", "white")}


def _distance(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


def background_bands(background):
    """(top colour, bottom colour) of a background name."""
    if background in SCENES:
        return SCENES[background][0], SCENES[background][1]
    colour = COLOURS[background]
    return colour, colour


def colour_fits(colour, background):
    """Whether an object of this colour stands out on this background."""
    top, bottom = background_bands(background)
    rgb = COLOURS[colour]
    return min(_distance(rgb, top), _distance(rgb, bottom)) > 110


def is_held_out(scene):
    return ((scene["colour"], scene["shape"]) in HELD_OUT_COLOUR_SHAPE or
            (scene["shape"], scene["background"]) in HELD_OUT_SHAPE_BACKGROUND)


def _place(rng, count, radius):
    """Centres for `count` objects of this radius that do not overlap."""
    for _ in range(200):
        centres = [(rng.uniform(radius + 0.04, 1 - radius - 0.04),
                    rng.uniform(radius + 0.04, 1 - radius - 0.04))
                   for _ in range(count)]
        if all(_distance(a, b) > 2 * radius + 0.08
               for i, a in enumerate(centres) for b in centres[i + 1:]):
            return centres
    return None


def sample_scene(rng, held_out=False):
    """A random scene; held_out=True draws only from the held-out pairs."""
    while True:
        shape = rng.choice(SHAPES)
        colour = rng.choice(list(COLOURS))
        background = rng.choice(BACKGROUNDS)
        if not colour_fits(colour, background):
            continue
        count = 1 if shape == "stripes" else rng.choice([1, 1, 1, 2, 3])
        scene = {"shape": shape, "colour": colour, "background": background,
                 "count": count}
        if is_held_out(scene) != held_out:
            continue
        if count == 1:
            size = rng.choice(list(SIZES))
            position = rng.choice(list(POSITIONS))
            cx, cy = POSITIONS[position]
            radius = SIZES[size]
            # Keep a large object inside the frame at a corner.
            cx = min(max(cx + rng.uniform(-0.05, 0.05), radius + 0.02), 1 - radius - 0.02)
            cy = min(max(cy + rng.uniform(-0.05, 0.05), radius + 0.02), 1 - radius - 0.02)
            centres = [(cx, cy)]
        else:
            size = rng.choice(["small", "medium"])
            position = None
            radius = SIZES[size]
            centres = _place(rng, count, radius)
            if centres is None:
                continue
        scene.update(size=size, position=position, radius=radius,
                     centres=centres,
                     stripes_vertical=rng.random() < 0.5)
        return scene


def _background_phrase(rng, background):
    if background in SCENES:
        return rng.choice(SCENES[background][3])
    return rng.choice([f"on a {background} background", f"against {background}",
                       f"on {background}", f"with a {background} background"])


def caption(rng, scene):
    """A natural caption of a scene; words that say nothing may be left out."""
    shape, colour, count = scene["shape"], scene["colour"], scene["count"]
    background = _background_phrase(rng, scene["background"])
    if count == 1:
        noun = shape if shape != "stripes" else "stripes"
        size_word = scene["size"]
        if size_word == "medium" and rng.random() < 0.7:
            size_word = ""
        elif size_word == "large" and rng.random() < 0.3:
            size_word = "big"
        words = " ".join(w for w in [size_word, colour, noun] if w)
        article = "" if shape == "stripes" else ("an " if words[0] in "aeiou" else "a ")
        subject = article + words
        position = rng.choice(POSITION_PHRASES[scene["position"]])
        templates = [f"{subject} {position} {background}",
                     f"{subject} {background}, {position}",
                     f"{subject} {position}"
                     + (f", {scene['background']} background"
                        if scene["background"] in PLAIN_BACKGROUNDS else f" {background}")]
    else:
        subject = f"{COUNT_WORDS[count]} {scene['size'] + ' ' if rng.random() < 0.3 else ''}{colour} {PLURAL[shape]}"
        templates = [f"{subject} {background}", f"{subject}, {background}"]
    return rng.choice(templates)


def plain_caption(scene):
    """The one canonical caption of a scene (the quality test's prompts)."""
    shape, colour, count = scene["shape"], scene["colour"], scene["count"]
    background = scene["background"]
    where = (SCENES[background][3][0] if background in SCENES
             else f"on a {background} background")
    if count == 1:
        subject = (f"{colour} stripes" if shape == "stripes"
                   else f"a {colour} {shape}")
        return f"{subject} {POSITION_PHRASES[scene['position']][0]} {where}"
    return f"{COUNT_WORDS[count]} {colour} {PLURAL[shape]} {where}"


# --- Drawing (Pillow) -------------------------------------------------------

def _star_points(cx, cy, radius, angle):
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else radius * 0.45
        a = angle + i * math.pi / 5
        points.append((cx + r * math.sin(a), cy - r * math.cos(a)))
    return points


def render(scene):
    """The scene as a SIZE x SIZE RGB Pillow image."""
    from PIL import Image, ImageDraw

    scale = 2
    side = SIZE * scale
    top, bottom = background_bands(scene["background"])
    image = Image.new("RGB", (side, side), top)
    draw = ImageDraw.Draw(image)
    horizon = SCENES[scene["background"]][2] if scene["background"] in SCENES else 1.0
    if scene["background"] in SCENES and horizon is None:
        for y in range(side):
            t = y / (side - 1)
            draw.line([(0, y), (side, y)],
                      fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))
    elif horizon < 1.0:
        draw.rectangle([0, round(horizon * side), side, side], fill=bottom)

    fill = COLOURS[scene["colour"]]
    for (cx, cy) in scene["centres"]:
        x, y, r = cx * side, cy * side, scene["radius"] * side
        shape = scene["shape"]
        if shape == "circle":
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
        elif shape == "square":
            s = r * 0.85
            draw.rectangle([x - s, y - s, x + s, y + s], fill=fill)
        elif shape == "triangle":
            draw.polygon([(x, y - r), (x + r * 0.95, y + r * 0.7),
                          (x - r * 0.95, y + r * 0.7)], fill=fill)
        elif shape == "star":
            draw.polygon(_star_points(x, y, r * 1.1, 0.0), fill=fill)
        elif shape == "ring":
            # An outline, so the hole shows whatever background is behind it.
            draw.ellipse([x - r, y - r, x + r, y + r], outline=fill, width=round(r * 0.45))
        elif shape == "stripes":
            bar = 2 * r / 5
            for k in (0, 2, 4):
                if scene["stripes_vertical"]:
                    draw.rectangle([x - r + k * bar, y - r, x - r + (k + 1) * bar, y + r], fill=fill)
                else:
                    draw.rectangle([x - r, y - r + k * bar, x + r, y - r + (k + 1) * bar], fill=fill)
    return image.resize((SIZE, SIZE), Image.LANCZOS)


def make_scenes(seed, count, held_out=False):
    """`count` (scene, caption) pairs from a seed."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        scene = sample_scene(rng, held_out)
        out.append((scene, caption(rng, scene)))
    return out
