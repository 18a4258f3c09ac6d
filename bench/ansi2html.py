#!/usr/bin/env python3
"""Turns a terminal screen captured with `tmux capture-pane -e -p` into an HTML page.

    bench/ansi2html.py SCREEN.ans PAGE.html [--cols 160] [--rows 45] [--bg '#121212']

Handles the SGR sequences tmux writes (bold, dim, italic, underline, reverse, strikethrough;
the 16 colours, 256-colour indexes and 24-bit colours, for text and background); attributes
carry over from one line to the next, as in the capture. Every line is padded to --cols cells
and the screen to --rows lines. Prints the page's size in pixels, `WIDTH HEIGHT`, for a
browser window that shows exactly the screen.
"""

import argparse
import html
import re
import sys

# A common terminal palette for the 16 named colours (the themes leave them to the terminal).
BASIC = [
    "#2e3436", "#cc0000", "#4e9a06", "#c4a000", "#3465a4", "#75507b", "#06989a", "#d3d7cf",
    "#555753", "#ef2929", "#8ae234", "#fce94f", "#729fcf", "#ad7fa8", "#34e2e2", "#eeeeec",
]

# DejaVu Sans Mono's advance width, in em.
ADVANCE = 1233 / 2048


def color256(n):
    if n < 16:
        return BASIC[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        r, g, b = steps[n // 36], steps[(n // 6) % 6], steps[n % 6]
        return f"#{r:02x}{g:02x}{b:02x}"
    v = 8 + (n - 232) * 10
    return f"#{v:02x}{v:02x}{v:02x}"


class Style:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = None
        self.bg = None
        self.bold = self.dim = self.italic = self.underline = False
        self.reverse = self.strike = False

    def key(self):
        return (self.fg, self.bg, self.bold, self.dim, self.italic, self.underline,
                self.reverse, self.strike)

    def apply(self, params):
        codes = re.split(r"[;:]", params) if params else ["0"]
        i = 0
        while i < len(codes):
            c = int(codes[i] or 0)
            if c == 0:
                self.reset()
            elif c == 1:
                self.bold = True
            elif c == 2:
                self.dim = True
            elif c == 3:
                self.italic = True
            elif c == 4:
                self.underline = True
            elif c == 7:
                self.reverse = True
            elif c == 9:
                self.strike = True
            elif c == 22:
                self.bold = self.dim = False
            elif c == 23:
                self.italic = False
            elif c == 24:
                self.underline = False
            elif c == 27:
                self.reverse = False
            elif c == 29:
                self.strike = False
            elif 30 <= c <= 37:
                self.fg = BASIC[c - 30]
            elif 90 <= c <= 97:
                self.fg = BASIC[c - 90 + 8]
            elif 40 <= c <= 47:
                self.bg = BASIC[c - 40]
            elif 100 <= c <= 107:
                self.bg = BASIC[c - 100 + 8]
            elif c == 39:
                self.fg = None
            elif c == 49:
                self.bg = None
            elif c in (38, 48) and i + 1 < len(codes):
                mode = codes[i + 1]
                value = None
                if mode == "5" and i + 2 < len(codes):
                    value = color256(int(codes[i + 2]))
                    i += 2
                elif mode == "2" and i + 4 < len(codes):
                    r, g, b = (int(x or 0) for x in codes[i + 2:i + 5])
                    value = f"#{r:02x}{g:02x}{b:02x}"
                    i += 4
                if c == 38:
                    self.fg = value
                else:
                    self.bg = value
            i += 1


def css(key, fg_default, bg_default):
    fg, bg, bold, dim, italic, underline, reverse, strike = key
    fg = fg or fg_default
    bg = bg or bg_default
    if reverse:
        fg, bg = bg, fg
    out = [f"color:{fg}"]
    if bg != bg_default:
        out.append(f"background:{bg}")
    if bold:
        out.append("font-weight:bold")
    if dim:
        out.append("opacity:.65")
    if italic:
        out.append("font-style:italic")
    lines = [n for n, on in (("underline", underline), ("line-through", strike)) if on]
    if lines:
        out.append("text-decoration:" + " ".join(lines))
    return ";".join(out)


SEQ = re.compile(r"\x1b\[([0-9;:?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")


def convert(text, cols, rows, fg_default, bg_default):
    style = Style()
    classes = {}
    out_lines = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for raw in lines[:rows]:
        runs = []  # (style key, text)
        width = 0
        pos = 0
        for m in SEQ.finditer(raw):
            chunk = raw[pos:m.start()]
            if chunk:
                runs.append((style.key(), chunk))
                width += len(chunk)
            if m.group(2) == "m":
                style.apply(m.group(1))
            pos = m.end()
        chunk = raw[pos:]
        if chunk:
            runs.append((style.key(), chunk))
            width += len(chunk)
        if width < cols:
            # Padding: what a cleared cell shows, the default colours.
            runs.append((Style().key(), " " * (cols - width)))
        parts = []
        for key, chunk in runs:
            name = classes.setdefault(key, f"s{len(classes)}")
            parts.append(f'<span class="{name}">{html.escape(chunk)}</span>')
        out_lines.append("".join(parts))
    while len(out_lines) < rows:
        out_lines.append(" " * cols)
    rules = "\n".join(
        f".{name} {{ {css(key, fg_default, bg_default)} }}" for key, name in classes.items()
    )
    return out_lines, rules


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("screen")
    ap.add_argument("page")
    ap.add_argument("--cols", type=int, default=160)
    ap.add_argument("--rows", type=int, default=45)
    ap.add_argument("--fg", default="#d3d7cf", help="default text colour")
    ap.add_argument("--bg", default="#121212", help="default background (the theme's)")
    ap.add_argument(
        "--font-size", type=float, default=14.6,
        help="pixels; DejaVu Sans Mono is 1.164 em high: 14.6 px fills a 17 px line, so box lines join")
    ap.add_argument("--line-height", type=float, default=17.0, help="pixels")
    ap.add_argument("--pad", type=int, default=12, help="pixels around the screen")
    ap.add_argument("--title", default="tollgate")
    a = ap.parse_args()

    with open(a.screen, encoding="utf-8", errors="replace") as f:
        text = f.read()
    lines, rules = convert(text, a.cols, a.rows, a.fg, a.bg)
    width = round(a.cols * a.font_size * ADVANCE + 2 * a.pad)
    height = round(a.rows * a.line_height + 2 * a.pad)
    # No whitespace between the lines: the screen is `white-space: pre`. Each line is drawn
    # above the next, so the next line's background never hides a descender (`_`).
    body = "".join(
        f'<div class="l" style="z-index:{len(lines) - i}">{line}</div>'
        for i, line in enumerate(lines)
    )
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(a.title)}</title>
<style>
html, body {{ margin: 0; background: {a.bg}; }}
body {{ padding: {a.pad}px; width: {width - 2 * a.pad}px; height: {height - 2 * a.pad}px;
  overflow: hidden; }}
.screen {{ font-family: "DejaVu Sans Mono", monospace; font-size: {a.font_size}px;
  line-height: {a.line_height}px; color: {a.fg}; white-space: pre;
  font-variant-ligatures: none; font-kerning: none; }}
.l {{ height: {a.line_height}px; position: relative; }}
{rules}
</style></head>
<body><div class="screen">{body}</div></body></html>
"""
    with open(a.page, "w", encoding="utf-8") as f:
        f.write(page)
    print(width, height)


if __name__ == "__main__":
    sys.exit(main())
