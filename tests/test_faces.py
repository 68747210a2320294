"""Face detection and alignment on real faces: the astronaut photo and FER2013 faces."""
import io
import zipfile

import cv2
import numpy as np
import pytest
from PIL import Image

from fer.faces import Face, align, as_rgb, centre_crop, crop_transform, detect, detect_batch, eye_angle
from fer.images import ImageError

from skimage import data as skdata  # a requirement: imported, never skipped
ASTRONAUT = skdata.astronaut()  # 512×512 RGB, one face near (181, 62, 268, 172)
FACE = ASTRONAUT[40:200, 150:300]  # the face with some context


def iou(a, b):
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def rotate(img, angle):
    h, w = img.shape[:2]
    return cv2.warpAffine(img, cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0), (w, h))


def on_canvas(face, size, xy, canvas=(480, 640)):
    c = np.full((*canvas, 3), 110, np.uint8)
    f = cv2.resize(face, (size, int(size * face.shape[0] / face.shape[1])), interpolation=cv2.INTER_AREA)
    x, y = xy
    c[y:y + f.shape[0], x:x + f.shape[1]] = f[: canvas[0] - y, : canvas[1] - x]
    return c


def test_mtcnn_finds_the_astronaut_with_landmarks():
    faces = detect(ASTRONAUT)
    assert len(faces) == 1
    f = faces[0]
    assert iou(f.box, (181, 62, 268, 172)) > 0.8 and f.score > 0.99
    assert f.landmarks.shape == (5, 2)
    left_eye, right_eye, nose, mouth_left, mouth_right = f.landmarks
    assert left_eye[0] < nose[0] < right_eye[0]  # as seen in the image
    assert mouth_left[0] < mouth_right[0] and nose[1] < mouth_left[1]


def test_haar_finds_the_astronaut_without_landmarks():
    faces = detect(ASTRONAUT, method="haar")
    assert len(faces) >= 1 and faces[0].landmarks is None
    assert iou(faces[0].box, detect(ASTRONAUT)[0].box) > 0.5


@pytest.mark.parametrize("method", ["mtcnn", "haar"])
def test_no_face_is_an_empty_list(method):
    assert detect(np.full((240, 320, 3), 128, np.uint8), method=method) == []
    assert detect(np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8), method=method) == []
    assert detect(np.zeros((1, 1, 3), np.uint8), method=method) == []


def test_several_faces_largest_first_and_tiny_faces():
    c = on_canvas(FACE, 200, (380, 150))
    small = cv2.resize(FACE, (50, 53), interpolation=cv2.INTER_AREA)
    c[40:93, 60:110] = small
    tiny = cv2.resize(FACE, (34, 36), interpolation=cv2.INTER_AREA)  # a face of about 20 px
    c[400:436, 60:94] = tiny
    faces = detect(c)
    assert len(faces) == 3
    areas = [f.area for f in faces]
    assert areas == sorted(areas, reverse=True)
    assert faces[0].box[0] > 380 and faces[2].box[1] > 390 and faces[2].width < 30


def test_batch_detection_equals_single():
    a, b = on_canvas(FACE, 150, (100, 100)), on_canvas(FACE, 120, (400, 200))
    batch = detect_batch([a, b, ASTRONAUT])
    for img, got in zip((a, b, ASTRONAUT), batch):
        single = detect(img)
        assert len(got) == len(single) == 1 and iou(got[0].box, single[0].box) > 0.95


@pytest.mark.parametrize("angle", [-30, -15, 10, 25])
def test_rotated_faces_come_out_level(angle):
    img = rotate(ASTRONAUT, angle)
    f = detect(img)[0]
    upright = eye_angle(detect(ASTRONAUT)[0].landmarks)  # she tilts her head by about 3°
    assert abs(eye_angle(f.landmarks) - (upright - angle)) < 5  # the detector sees the tilt we made
    crop = align(img, f, size=224, margin=0.3)
    again = detect(crop)
    assert len(again) == 1 and abs(eye_angle(again[0].landmarks)) < 3


def test_face_cut_by_the_border_is_padded_not_stretched():
    img = ASTRONAUT[:, 200:]  # a quarter of the face is gone
    faces = detect(img)
    assert faces, "a face cut by the border is still found"
    assert align(img, faces[0], size=112).shape == (112, 112, 3)
    f = Face((-40.0, 62.0, 48.0, 172.0), 1.0)  # a box reaching outside the image
    crop = align(img, f, size=112, margin=0.3)
    assert crop.shape == (112, 112, 3)
    assert crop[:, :30].max() == 0 and crop[:, 80:].max() > 0  # black padding on the left only


def test_crop_geometry_without_landmarks_is_the_exact_square():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    f = Face((100.0, 100.0, 200.0, 150.0), 1.0)  # w 100, h 50 → side 100 · 1.6 = 160 around (150, 125)
    crop = align(img, f, size=160, margin=0.3)
    assert np.array_equal(crop, img[45:205, 70:230])
    gray = align(img, f, size=80, margin=0.3, grayscale=True)
    assert gray.shape == (80, 80) and gray.dtype == np.uint8
    m = crop_transform(f, 80, 0.3)
    assert np.allclose(m[:, :2], np.eye(2) * 0.5)  # one scale on both axes: never stretched


def test_landmark_rotation_maps_eyes_onto_a_level_line():
    f = detect(rotate(ASTRONAUT, 20))[0]
    m = crop_transform(f, 224, 0.3)
    eyes = f.landmarks[:2] @ m[:, :2].T + m[:, 2]
    assert abs(eyes[0, 1] - eyes[1, 1]) < 1e-6
    assert 0.35 < eyes[:, 1].mean() / 224 < 0.5  # eyes a little above the middle, as in FER2013


def test_every_input_mode():
    pil = Image.fromarray(ASTRONAUT)
    inputs = {
        "gray array": np.asarray(pil.convert("L")),
        "rgba array": np.dstack([ASTRONAUT, np.full(ASTRONAUT.shape[:2], 255, np.uint8)]),
        "palette": pil.convert("P"),
        "16-bit": (np.asarray(pil.convert("L")).astype(np.uint16) * 257),
        "16-bit PIL": Image.fromarray(np.asarray(pil.convert("L")).astype(np.uint16) * 257),
        "float": ASTRONAUT.astype(np.float32) / 255,
        "PIL RGBA": pil.convert("RGBA"),
        "jpeg bytes": _jpeg(ASTRONAUT),
    }
    for name, img in inputs.items():
        faces = detect(img)
        assert len(faces) == 1 and iou(faces[0].box, (181, 62, 268, 172)) > 0.7, name
        assert as_rgb(img).shape == (512, 512, 3), name


def test_huge_images_are_refused_before_decoding(tmp_path):
    huge = np.broadcast_to(np.uint8(0), (20000, 20000))  # no memory behind it
    with pytest.raises(ImageError, match="over the 40 MP limit"):
        detect(huge)
    path = tmp_path / "huge.png"
    Image.new("1", (20000, 20000)).save(path)
    with pytest.raises(ImageError, match="too large: its header declares over 179 MP, over the 40 MP limit"):
        detect(str(path))
    with pytest.raises(ImageError, match="not an image array"):
        detect(np.zeros((4, 4, 7), np.uint8))
    with pytest.raises(ValueError, match="detector"):
        detect(ASTRONAUT, method="yolo")


def test_centre_crop():
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, 50:150] = 255
    assert centre_crop(img, 50).min() == 255 and centre_crop(img, 50, grayscale=True).shape == (50, 50)


def _jpeg(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def test_fer2013_faces_on_canvases_rotated_by_known_angles(mini_zip):
    rng = np.random.default_rng(7)
    with zipfile.ZipFile(mini_zip) as zf:
        names = sorted(n for n in zf.namelist() if "/test/" in n)[::5][:14]
        faces = [np.asarray(Image.open(io.BytesIO(zf.read(n))).convert("RGB")) for n in names]
    found = level = tilt_ok = 0
    for face in faces:
        angle = float(rng.choice([-20, -10, 10, 20]))
        big = cv2.resize(face, (160, 160), interpolation=cv2.INTER_CUBIC)
        big = cv2.copyMakeBorder(big, 40, 40, 40, 40, cv2.BORDER_REPLICATE)
        upright = detect(on_canvas(big, 240, (200, 120)))
        tilted_img = on_canvas(rotate(big, angle), 240, (int(rng.integers(0, 380)), int(rng.integers(0, 220))))
        tilted = detect(tilted_img)
        if not (upright and tilted):
            continue
        found += 1
        # the tilt the detector sees changed by the angle we turned the face
        tilt_ok += abs((eye_angle(tilted[0].landmarks) - eye_angle(upright[0].landmarks)) + angle) < 6
        again = detect(align(tilted_img, tilted[0], size=160))
        level += bool(again) and abs(eye_angle(again[0].landmarks)) < 3
    assert found >= 11, found  # 48-px faces upscaled: most are found
    assert tilt_ok >= found - 1 and level >= found - 2, (found, tilt_ok, level)
