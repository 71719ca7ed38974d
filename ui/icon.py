"""The app's page icon, drawn here: Streamlit fetches a `:material/...:` or emoji page icon from a
font CDN (fonts.gstatic.com, jsdelivr), which an offline hospital network cannot reach. An image
is served by the app itself."""

from __future__ import annotations

from PIL import Image, ImageDraw


def page_icon() -> Image.Image:
    """A 64 px icon: a white heart-monitor trace on a dark red rounded square (drawn each run: nothing
    is cached across sessions, and it takes well under a millisecond)."""
    size = 64
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((2, 2, size - 3, size - 3), radius=12, fill=(153, 27, 30, 255))
    trace = [(8, 34), (20, 34), (26, 20), (33, 48), (39, 28), (43, 34), (56, 34)]
    draw.line(trace, fill=(255, 255, 255, 255), width=5, joint="curve")
    return image
