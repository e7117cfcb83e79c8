"""The PDF readers the other tests rely on: words land where they were drawn, in the top-left frame of the layout."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from reportlab.pdfgen.canvas import Canvas

from tests.formats.pdf.conftest import layout_text, page_images, words

_HEIGHT = 792.0


def _drawn(path: Path) -> Path:
    """Two pages of Helvetica 10: words at known points (reportlab's y is from the bottom), one red square."""
    canvas = Canvas(str(path), pagesize=(612, _HEIGHT))
    canvas.setFont("Helvetica", 10)
    canvas.drawString(100, _HEIGHT - 100, "ALPHA BETA")
    canvas.drawString(100 + canvas.stringWidth("GAMMA", "Helvetica", 10) + 3, _HEIGHT - 200, "DELTA")
    canvas.drawString(100, _HEIGHT - 200, "GAMMA")  # drawn after DELTA, 3 pt to its left: a separate word
    canvas.drawString(300, _HEIGHT - 100, "FAR")
    canvas.setFillColorRGB(1, 0, 0)
    canvas.rect(400, _HEIGHT - 420, 100, 100, stroke=0, fill=1)
    canvas.showPage()
    canvas.setFont("Helvetica", 10)
    canvas.drawString(50, _HEIGHT - 50, "SECOND")
    canvas.save()
    return path


def test_words_have_their_drawn_place_and_page(tmp_path: Path) -> None:
    found = words(_drawn(tmp_path / "known.pdf"))
    assert sorted((w.page, w.text) for w in found) == [
        (1, "ALPHA"), (1, "BETA"), (1, "DELTA"), (1, "FAR"), (1, "GAMMA"), (2, "SECOND")]
    alpha = next(w for w in found if w.text == "ALPHA")
    assert abs(alpha.x_min - 100) < 0.5
    assert alpha.y_min < 100 < alpha.y_max  # the baseline, 100 pt from the top, lies inside the box
    assert 100 - alpha.y_min > 6  # above the baseline: the capitals (about 7 pt at 10 pt Helvetica)
    gamma = next(w for w in found if w.text == "GAMMA")
    delta = next(w for w in found if w.text == "DELTA")
    assert 2.5 < delta.x_min - gamma.x_max < 3.5
    assert alpha.inside(99, 90, 40, 14)
    assert not alpha.inside(101, 90, 40, 14)


def test_layout_puts_words_of_one_line_together_in_reading_order(tmp_path: Path) -> None:
    pages = layout_text(_drawn(tmp_path / "known.pdf"))
    assert pages == ["ALPHA BETA FAR\nGAMMA DELTA", "SECOND"]


def test_pages_render_at_the_asked_resolution(tmp_path: Path) -> None:
    images = page_images(_drawn(tmp_path / "known.pdf"), tmp_path, dpi=72)
    assert len(images) == 2
    with Image.open(images[0]) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (612, 792)
        assert rgb.getpixel((450, 370)) == (255, 0, 0)  # inside the red square, 320..420 pt from the top
        assert rgb.getpixel((350, 370)) == (255, 255, 255)
