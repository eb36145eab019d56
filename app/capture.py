"""The Data page's camera panel: photos per class, saved into a folder dataset under a data root.

The files, the name rules and what a capture lacks to train are ``cnnlib.data.capture``;
where they go is ``app.datasources.writable_root``. This module draws the widgets and
remembers which shots are saved: ``st.camera_input`` returns the same photo on every rerun
until the next one is taken, so each shot is saved once, by its upload's file id.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from app import state, ui
from app.datasources import writable_root
from cnnlib.data.capture import check_name, class_counts, dataset_dir, readiness, save_photo
from cnnlib.data.loader import MIN_CLASSES
from cnnlib.data.split import MIN_TO_HOLD_OUT

_SAVED = "capture_saved"  # {file id: saved path} of this session's shots
CAPTURE_RESOLUTION = "480p"


def _names(root: Path) -> tuple[Path | None, str | None]:
    """The dataset folder and class name typed, each None (with its error shown) when unusable."""
    left, right = st.columns(2)
    dataset = left.text_input("Dataset name", key=state.default("keep_capture_dataset", "camera"),
                              help=f"A folder under `{root}`; typing an existing one adds photos to it.")
    class_name = right.text_input("Class name", key=state.default("keep_capture_class", ""), placeholder="e.g. red",
                                  help="The label of the photos you take now. Change it to start the next class.")
    folder: Path | None = None
    with ui.user_errors(stop=False):
        folder = dataset_dir(root, dataset)
    if folder is None or not class_name.strip():
        return folder, None
    checked: str | None = None
    with ui.user_errors(stop=False):
        checked = check_name(class_name)
    return folder, checked


def _take(folder: Path, class_name: str) -> None:
    """The camera; a new shot is written to ``folder/class_name`` once, then only reported."""
    st.caption(f"Photos go to `{folder / class_name}` as soon as they are taken. "
               "Press **Clear photo** to take the next one.")
    # One capture height for every shot: left to the widget's width, sizes would vary with the
    # window, and the dataset's native size (the model input by default) with them.
    shot = st.camera_input("Camera", key="capture_camera", resolution=CAPTURE_RESOLUTION)
    if shot is None:
        return
    saved: dict[str, str] = st.session_state.setdefault(_SAVED, {})
    if shot.file_id not in saved:
        with ui.user_errors(stop=False):
            saved[shot.file_id] = str(save_photo(folder, class_name, shot.getvalue()))
    if shot.file_id in saved:
        path = Path(saved[shot.file_id])
        st.success(f"Saved `{path.parent.name}/{path.name}`.", icon="📸")


def _counts(folder: Path, on_use: Callable[[Path], None]) -> None:
    """The photos per class, what training still needs, and the button that loads the folder."""
    counts = class_counts(folder)
    if not counts:
        st.caption(f"No photos in `{folder.name}` yet.")
        return
    st.table([{"class": name, "photos": count} for name, count in counts.items()], hide_index=True, width="content")
    check = readiness(counts)
    if check.ready:
        st.success(f"Ready to train: {len(counts)} classes, {sum(counts.values())} photos.")
    else:
        st.info("To train, this dataset still needs " + "; ".join(check.problems) + ".")
    for note in check.notes:
        st.caption(f"Note: {note}.")
    st.button("Use this dataset", key="capture_use", type="primary", disabled=not check.ready,
              on_click=on_use, args=(folder,), help="Choose this folder as the Data page's source and load it.")


def capture_panel(on_use: Callable[[Path], None]) -> None:
    """Draw the camera capture: names, camera, counts per class, and "Use this dataset".

    Args:
        on_use: called (as the button's callback, before the next run draws any widget)
            with the dataset folder, to make it the page's source.
    """
    root = writable_root()
    if root is None:
        st.warning("No data root can be written to, so photos cannot be saved. Add a writable folder to "
                   "`CNNLIB_DATA_ROOTS` (folders separated by `:`), or create `./data`.")
        return
    st.caption(f"Training needs at least {MIN_CLASSES} classes and {MIN_TO_HOLD_OUT} photos of each (one each for "
               "training, validation and test); a few dozen per class, from varied angles and light, train far better. "
               f"Photos are taken at {CAPTURE_RESOLUTION}: a smaller input size under **Options** trains much faster.")
    folder, class_name = _names(root)
    if folder is None:
        return
    left, right = st.columns([3, 2], gap="large")
    with left:
        if class_name is not None:
            _take(folder, class_name)
        else:
            st.caption("Type a class name to turn the camera on.")
    with right:
        _counts(folder, on_use)
