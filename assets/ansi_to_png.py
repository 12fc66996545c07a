#!/usr/bin/env python3
"""Render a terminal capture (`tmux capture-pane -e -p`, ANSI SGR colours)
to a PNG, the way a terminal would: one monospace cell per character,
box-drawing and braille characters drawn as shapes so the ring's circle and
the pane borders join up.

Used by scripts/screenshots.sh to make assets/screenshot.png and the
tour's pictures from the real dkvs-tui, as in:

    tmux new-session -d -s shot -x 120 -y 40 'dkvs-tui cluster.toml'
    ... send-keys ...
    tmux capture-pane -e -p -t shot > screen.ansi
    python3 assets/ansi_to_png.py screen.ansi assets/screenshot.png [COLOURS]

With COLOURS (e.g. 64) the image is saved with a palette of that many
colours, which makes the file several times smaller.

Needs Pillow and the DejaVu fonts (Debian: fonts-dejavu-core).
"""

import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
SIZE = 16
BG = (24, 26, 32)
FG = (214, 214, 214)

BASE16 = [
    (0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16),
    (36, 114, 200), (188, 63, 188), (17, 168, 205), (229, 229, 229),
    (102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67),
    (59, 142, 234), (214, 112, 214), (41, 184, 219), (255, 255, 255),
]


def xterm256(n):
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


class Style:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = None
        self.bg = None
        self.bold = self.dim = self.italic = self.underline = self.reverse = False

    def copy(self):
        s = Style()
        s.__dict__.update(self.__dict__)
        return s

    def apply(self, params):
        ps = [int(p) if p else 0 for p in params.split(";")] if params else [0]
        i = 0
        while i < len(ps):
            p = ps[i]
            if p == 0:
                self.reset()
            elif p == 1:
                self.bold = True
            elif p == 2:
                self.dim = True
            elif p == 3:
                self.italic = True
            elif p == 4:
                self.underline = True
            elif p == 7:
                self.reverse = True
            elif p == 22:
                self.bold = self.dim = False
            elif p == 23:
                self.italic = False
            elif p == 24:
                self.underline = False
            elif p == 27:
                self.reverse = False
            elif 30 <= p <= 37:
                self.fg = BASE16[p - 30]
            elif 90 <= p <= 97:
                self.fg = BASE16[p - 90 + 8]
            elif 40 <= p <= 47:
                self.bg = BASE16[p - 40]
            elif 100 <= p <= 107:
                self.bg = BASE16[p - 100 + 8]
            elif p == 39:
                self.fg = None
            elif p == 49:
                self.bg = None
            elif p in (38, 48) and i + 1 < len(ps):
                if ps[i + 1] == 5 and i + 2 < len(ps):
                    c = xterm256(ps[i + 2])
                    i += 2
                elif ps[i + 1] == 2 and i + 4 < len(ps):
                    c = tuple(ps[i + 2:i + 5])
                    i += 4
                else:
                    c = None
                if p == 38:
                    self.fg = c
                else:
                    self.bg = c
            i += 1


SGR = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])")


def parse(text):
    rows = []
    style = Style()
    for line in text.split("\n"):
        row = []
        pos = 0
        for m in SGR.finditer(line):
            for ch in line[pos:m.start()]:
                row.append((ch, style.copy()))
            if m.group(2) == "m":
                style.apply(m.group(1))
            pos = m.end()
        for ch in line[pos:]:
            row.append((ch, style.copy()))
        rows.append(row)
    while rows and not rows[-1]:
        rows.pop()
    return rows


# Box drawing: which arms (up, right, down, left) each character has.
BOX = {
    "─": "rl", "│": "ud", "┌": "rd", "┐": "ld", "└": "ur", "┘": "ul",
    "├": "urd", "┤": "uld", "┬": "rld", "┴": "url", "┼": "urdl",
    "╴": "l", "╶": "r", "╵": "u", "╷": "d",
}


def blend(a, b, t):
    return tuple(int(a[k] * (1 - t) + b[k] * t) for k in range(3))


def main():
    src, dst = sys.argv[1], sys.argv[2]
    rows = parse(open(src, encoding="utf-8").read())
    regular = ImageFont.truetype(FONT_DIR + "DejaVuSansMono.ttf", SIZE)
    bold = ImageFont.truetype(FONT_DIR + "DejaVuSansMono-Bold.ttf", SIZE)
    italic = ImageFont.truetype(FONT_DIR + "DejaVuSansMono-Oblique.ttf", SIZE)
    cw = round(regular.getlength("M"))
    ascent, descent = regular.getmetrics()
    ch_h = ascent + descent + 2
    cols = max((len(r) for r in rows), default=1)
    pad = 12
    img = Image.new("RGB", (cols * cw + 2 * pad, len(rows) * ch_h + 2 * pad), BG)
    d = ImageDraw.Draw(img)
    for y, row in enumerate(rows):
        for x, (ch, st) in enumerate(row):
            fg = st.fg or FG
            bg = st.bg or BG
            if st.reverse:
                fg, bg = bg, fg
            if st.dim:
                fg = blend(fg, bg, 0.45)
            x0, y0 = pad + x * cw, pad + y * ch_h
            if bg != BG:
                d.rectangle([x0, y0, x0 + cw - 1, y0 + ch_h - 1], fill=bg)
            o = ord(ch)
            if ch in BOX:
                cx, cy = x0 + cw // 2, y0 + ch_h // 2
                arms = BOX[ch]
                if "u" in arms:
                    d.line([cx, y0, cx, cy], fill=fg)
                if "d" in arms:
                    d.line([cx, cy, cx, y0 + ch_h], fill=fg)
                if "l" in arms:
                    d.line([x0, cy, cx, cy], fill=fg)
                if "r" in arms:
                    d.line([cx, cy, x0 + cw, cy], fill=fg)
            elif 0x2800 <= o <= 0x28FF:
                bits = o - 0x2800
                dots = [(0, 0, 0x01), (0, 1, 0x02), (0, 2, 0x04), (1, 0, 0x08),
                        (1, 1, 0x10), (1, 2, 0x20), (0, 3, 0x40), (1, 3, 0x80)]
                r = max(1, cw // 6)
                for dx, dy, bit in dots:
                    if bits & bit:
                        px = x0 + cw * (1 + 2 * dx) / 4
                        py = y0 + ch_h * (1 + 2 * dy) / 8
                        d.ellipse([px - r, py - r, px + r, py + r], fill=fg)
            elif 0x2581 <= o <= 0x2588:
                # Lower blocks (sparklines): k eighths of the cell, from
                # the bottom, so neighbouring bars line up.
                top = y0 + ch_h - round(ch_h * (o - 0x2580) / 8)
                d.rectangle([x0, top, x0 + cw - 1, y0 + ch_h - 1], fill=fg)
            elif ch != " ":
                font = bold if st.bold else (italic if st.italic else regular)
                d.text((x0, y0 + 1), ch, font=font, fill=fg)
            if st.underline:
                d.line([x0, y0 + ch_h - 2, x0 + cw - 1, y0 + ch_h - 2], fill=fg)
    if len(sys.argv) > 3:
        # A palette of that many colours: a much smaller file.
        img = img.quantize(colors=int(sys.argv[3]))
    img.save(dst, optimize=True)


if __name__ == "__main__":
    main()
