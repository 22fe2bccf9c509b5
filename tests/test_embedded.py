"""poslib.embedded: the embedded default."""

from poslib import embedded


def test_embedded_default_uses_disjoint_photos_and_is_deterministic():
    train = embedded.embedded_image_set("train", 32, 12)
    test = embedded.embedded_image_set("test", 32, 8)
    train_photos = {i.split(":")[0] for i in train.ids}
    test_photos = {i.split(":")[0] for i in test.ids}
    assert train_photos and test_photos and not train_photos & test_photos
    assert train.fingerprint == embedded.embedded_image_set("train", 32, 12).fingerprint
    assert train.images.shape == (12, 32, 32, 3)
