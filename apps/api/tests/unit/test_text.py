from app.text import plural


def test_plurals() -> None:
    assert plural(1, "seller") == "1 seller"
    assert plural(0, "seller") == "0 sellers"
    assert plural(2, "new seller") == "2 new sellers"
    assert plural(1, "category", "categories") == "1 category"
    assert plural(3, "category", "categories") == "3 categories"
