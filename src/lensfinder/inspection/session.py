"""One inspector grading one inspection set: the manifest, the grades and notes logs, blinding and feedback.

The set is read by :mod:`lensfinder.inspection.inspection_set`, the HTTP side
is :mod:`lensfinder.inspection.server`; what the page shows in blind and
unblinded mode, the notes, the feedback on mixed-in simulations and the locks
are described in docs/inspection.md.
"""

from __future__ import annotations

import logging
import math
import threading
import unicodedata
from pathlib import Path

import numpy as np

from lensfinder.inspection.candidates import safe_name
from lensfinder.inspection.gradelog import GradeLog, utc_now
from lensfinder.inspection.grades import (
    GRADES_COLUMNS,
    LENS_VOTES,
    NOTES_COLUMNS,
    UNDO,
    notes_path,
    read_grades,
    read_notes,
)
from lensfinder.inspection.inspection_set import read_inspection_set
from lensfinder.inspection.pixels import (
    SURVEY_VIEWERS,
    TileFields,
    display_limits,
    stamp_fits,
    stretch_parameters,
    viewer_links,
)
from lensfinder.io import InputError

__all__ = ["GradingSession", "SCHEME_KEYS", "DEFAULT_FLAGS", "MAX_COMMENT_CHARS"]

log = logging.getLogger(__name__)

#: scheme -> (key, grade, label), best grade first.
SCHEME_KEYS = {
    # Li et al. 2020, section 3.2.
    "li2020": [("a", "A", "surely a lens"), ("b", "B", "maybe a lens"), ("c", "C", "maybe not a lens"),
               ("d", "D", "not a lens")],
    # He et al. 2020, section 4.1.
    "he2020": [("2", "2", "definite lens"), ("1", "1", "possible lens"), ("0", "0", "non-lens")],
}
#: Flags an inspector can set on any object (``--flag`` replaces them).
DEFAULT_FLAGS = ("interesting non-lens", "artefact", "merger / blend", "needs colour")
MAX_COMMENT_CHARS = 2000


def _short(value, limit: int = 60) -> str:
    """``repr`` of a request value, cut short: error messages never echo a whole request."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...'"


class GradingSession:
    """One inspector's grading of one set: manifest, grades and notes logs, undo stack.

    Parameters
    ----------
    set_dir : path-like
        Directory with ``manifest.parquet`` (or ``manifest.csv``), the PNGs
        and, written by ``lensfinder candidates``, ``stamps_r.fits``,
        ``candidates.parquet`` (positions, tiles) and ``known.parquet``.
    inspector : str
        Inspector name written in every row.
    scheme : {"li2020", "he2020"}
    grades_path : path-like
        Grades CSV, created if missing, appended to otherwise; notes go to
        :func:`~lensfinder.inspection.grades.notes_path` beside it.
    unblind : bool
        Allow the page to show p_CNN, object ids, positions, truth of the
        mixed-in simulations and the other inspectors' grades.
    feedback : bool
        After a grade of a mixed-in simulation, say what it was (Space Warps'
        training feedback); an undo of such a grade is refused.
    tile_dir : path-like, optional
        Survey tiles (``{tile}.fits``) for the wider field around candidates.
    survey : {"mock", "kids_dr4", "kids_dr3", "legacy_dr10"}, optional
        For links to the survey's own viewer.
    field_arcsec : float
        Side of the wider field (arcsec).
    flags : sequence of str
        The flags offered for notes.
    """

    def __init__(self, set_dir, inspector: str, scheme: str, grades_path, *, unblind: bool = False,
                 feedback: bool = False, tile_dir=None, survey: str | None = None, field_arcsec: float = 60.0,
                 flags=DEFAULT_FLAGS):
        if scheme not in SCHEME_KEYS:
            raise InputError(f"--scheme: {scheme!r}: expected one of {', '.join(SCHEME_KEYS)}")
        inspector = str(inspector).strip()
        if not inspector or any(ch in inspector for ch in "\r\n"):
            raise InputError(f"--inspector: {inspector!r}: expected a non-empty name on one line")
        try:
            inspector.encode("utf-8")
        except UnicodeEncodeError:  # bytes of another encoding in argv arrive as lone surrogates
            raise InputError(f"--inspector: {inspector.encode('utf-8', 'backslashreplace').decode('ascii', 'replace')}"
                             f": not valid UTF-8 text; expected a name in UTF-8") from None
        if survey is not None and survey not in SURVEY_VIEWERS:
            raise InputError(f"--survey: {survey!r}: expected one of {', '.join(SURVEY_VIEWERS)}")
        self.set_dir = Path(set_dir).resolve()
        self.inspector, self.scheme, self.survey = inspector, scheme, survey
        self.unblind, self.feedback = bool(unblind), bool(feedback)
        self.flags = [str(f).strip() for f in flags if str(f).strip()]
        if any(";" in f for f in self.flags):
            raise InputError(f"--flag: {self.flags}: a flag may not contain ';'")
        self.valid = {g for _, g, _ in SCHEME_KEYS[scheme]}
        self.items, self.cubes = read_inspection_set(self.set_dir)
        self._index = {item["object_id"]: k for k, item in enumerate(self.items)}
        self.fields = TileFields(tile_dir, field_arcsec) if tile_dir else None
        self.n_mixed = sum(item["truth"] is not None for item in self.items)
        if feedback and not self.n_mixed:
            raise InputError(f"--feedback: {self.set_dir / 'known.parquet'} lists no simulations mixed into this set "
                             f"(lensfinder candidates --mix-simulated)")
        # Positions, the wider field and viewer links would tell simulations (which have none) from
        # candidates, so a blind page gets them only when nothing was mixed in.
        self.context = self.unblind or not self.n_mixed
        self.grades_path = Path(grades_path)
        self.notes_path = notes_path(self.grades_path)
        self._lock = threading.Lock()  # the server's threads: one grade at a time
        self._log = GradeLog(self.grades_path, inspector)
        try:
            self._history: list[tuple[str, str]] = []  # effective (object_id, grade), oldest first
            self._standing: set[str] = set()  # objects graded before this start: no undo
            self._notes: dict[str, dict] = {}
            self._load()
        except BaseException:
            self._log.close()
            raise

    # ---------------------------------------------------------------- resuming: the grades and notes logs

    def _load(self) -> None:
        if self.grades_path.exists() and self.grades_path.stat().st_size:
            with self._log.locked(shared=True):
                # ids read as merge-scores reads them: a hand-edited "obj1 " is this set's "obj1"
                grades = read_grades(self.grades_path, self.scheme, valid_ids=set(self._index),
                                     duplicate_policy="latest", unknown_ids="keep")
            mine = grades[grades["inspector"] == self.inspector]
            here = mine["object_id"].isin(self._index).to_numpy()
            # grades of other sets in a shared file are not this set's to show or undo
            self._history = list(zip(mine["object_id"][here], mine["grade"][here]))
            # a grade given before this start stands, whatever the object: feedback on a mixed-in simulation
            # may have been shown, and refusing only those undos would tell a blind page which were simulations
            self._standing = {oid for oid, _ in self._history}
            log.info("resuming: %s has graded %d objects of this set in %s%s", self.inspector,
                     len(self._history), self.grades_path,
                     f" ({int((~here).sum())} grades of objects not in this set left aside)" if (~here).any() else "")
        with self._log.locked(shared=True):
            notes = read_notes(self.notes_path)
        mine = notes[notes["inspector"] == self.inspector]
        self._notes = {oid: {"flags": [f for f in flags.split(";") if f], "comment": comment}
                       for oid, flags, comment in zip(mine["object_id"], mine["flags"], mine["comment"])}

    def close(self) -> None:
        """Release this inspector's lock on the grades file and close the tiles."""
        self._log.close()
        if self.fields is not None:
            self.fields.close()

    # ---------------------------------------------------------------- page state

    def state(self) -> dict:
        """JSON-ready page state: items (by index), keys, flags, modes and this inspector's grades and notes."""
        grades = dict(self._history)
        return {
            "inspector": self.inspector,
            "scheme": self.scheme,
            "keys": [{"key": k, "grade": g, "label": label} for k, g, label in SCHEME_KEYS[self.scheme]],
            "flags": self.flags,
            "unblind": self.unblind,
            "feedback": self.feedback,
            "context": self.context,
            "n_mixed": self.n_mixed if self.unblind else None,
            "stretches": stretch_parameters(),
            "items": [{"name": it["name"], "bands": self.cubes.bands,
                       "pngs": [{"label": label, "url": f"/png/{k}/{label}"} for label in it["pngs"]],
                       "field": bool(self.context and self.fields and it["tile"] and np.isfinite(it["ra"]))}
                      for k, it in enumerate(self.items)],
            "grades": [grades.get(it["object_id"]) for it in self.items],
            "notes": [self._notes.get(it["object_id"]) for it in self.items],
            "n_graded": self.n_graded(),
        }

    def index_of(self, object_id: str) -> int:
        """Position of ``object_id`` in the set's grading order."""
        return self._index[object_id]

    def n_graded(self) -> int:
        """Objects of this set this inspector has graded."""
        return sum(1 for oid, _ in self._history if oid in self._index)

    def details(self, index: int) -> dict:
        """What the page may show about one object: links always; ids, p_CNN, truth, others' grades if unblinded."""
        item = self.items[index]
        out = {"fits": f"/fits/{index}", "viewers": [], "ra": None, "dec": None}
        if self.context and np.isfinite(item["ra"]):
            out.update(ra=float(item["ra"]), dec=float(item["dec"]),
                       viewers=viewer_links(self.survey, float(item["ra"]), float(item["dec"])))
        if self.unblind:
            out.update(object_id=item["object_id"], p_cnn=None if math.isnan(item["p_cnn"]) else item["p_cnn"],
                       samples=item["samples"], simulated=item["truth"] is not None, is_lens=item["truth"],
                       others=self._others(item["object_id"]))
        return out

    def _others(self, object_id: str) -> list[dict]:
        if not self.grades_path.exists() or not self.grades_path.stat().st_size:
            return []
        with self._log.locked(shared=True):
            grades = read_grades(self.grades_path, self.scheme, duplicate_policy="latest")
            notes = read_notes(self.notes_path)
        grades = grades[(grades["object_id"] == object_id) & (grades["inspector"] != self.inspector)]
        notes = notes[notes["object_id"] == object_id].set_index("inspector")
        return [{"inspector": i, "grade": g, "flags": notes["flags"].get(i, ""), "comment": notes["comment"].get(i, "")}
                for i, g in zip(grades["inspector"], grades["grade"])]

    # ---------------------------------------------------------------- grading

    def _item(self, object_id) -> int:
        if not isinstance(object_id, str) or object_id not in self._index:
            raise InputError(f"object_id {_short(object_id)} is not in this inspection set")
        return self._index[object_id]

    def grade(self, object_id: str, grade: str) -> dict:
        """Record one grade (appended and fsync'ed at once).

        Returns ``{object_id, grade, n_graded, feedback}``; ``feedback`` is a
        message for a mixed-in simulation when feedback is on, else None.
        Raises :class:`InputError` for an unknown object, a grade outside the
        scheme, or an object this inspector already graded (undo first).
        """
        k = self._item(object_id)
        grade = grade.strip() if isinstance(grade, str) else ""
        if self.scheme == "li2020":
            grade = grade.upper()
        if grade not in self.valid:
            raise InputError(f"grade {_short(grade)} is not in the {self.scheme} scheme")
        with self._lock:
            if any(oid == object_id for oid, _ in self._history):
                # the display name: a blind page must never see a mixed-in simulation's object_id
                raise InputError(f"{self.items[k]['name']} is already graded by {self.inspector}; undo first")
            self._log.append(self.grades_path, GRADES_COLUMNS, [object_id, self.inspector, grade, utc_now()])
            self._history.append((object_id, grade))
            return {"object_id": object_id, "grade": grade, "n_graded": self.n_graded(),
                    "feedback": self._feedback(self.items[k], grade)}

    def _feedback(self, item: dict, grade: str) -> str | None:
        if not self.feedback or item["truth"] is None:
            return None
        lens_vote = grade in LENS_VOTES[self.scheme]
        if item["truth"]:
            return ("Well spotted: that was a simulated lens." if lens_vote else
                    "You missed a simulated lens: that one was simulated, and it was a lens.")
        return ("That was a simulated non-lens: not a lens after all." if lens_vote else
                "Right: that was a simulated non-lens.")

    def undo(self) -> dict:
        """Retract this inspector's latest grade (an ``UNDO`` record); returns ``{undone, n_graded}``.

        With feedback on, a grade whose feedback was shown cannot be undone
        (:class:`InputError`): the inspector's skill is measured on it.
        """
        with self._lock:
            if not self._history:
                return {"undone": None, "n_graded": self.n_graded()}
            object_id, grade = self._history[-1]
            item = self.items[self._index[object_id]]
            if self.feedback and item["truth"] is not None:
                raise InputError(f"the grade {grade} of {item['name']} stands: feedback on it was given (--feedback)")
            if object_id in self._standing:
                raise InputError(f"the grade {grade} of {item['name']} stands: it was given before this server "
                                 "started (grades of earlier sessions cannot be undone here)")
            self._log.append(self.grades_path, GRADES_COLUMNS, [object_id, self.inspector, UNDO, utc_now()])
            self._history.pop()
            return {"undone": {"object_id": object_id, "grade": grade}, "n_graded": self.n_graded()}

    def note(self, object_id: str, flags, comment) -> dict:
        """Save this inspector's flags and comment for one object (the latest note wins; empty clears it)."""
        self._item(object_id)
        if not isinstance(flags, list) or not all(isinstance(f, str) and f in self.flags for f in flags):
            raise InputError(f"flags {_short(flags)}: expected a list of {self.flags}")
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS:
            raise InputError(f"comment: expected text of at most {MAX_COMMENT_CHARS} characters")
        try:
            comment.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800") has no UTF-8 form for the notes file
            raise InputError("comment: not valid Unicode text (a lone surrogate)") from None
        flags = [f for f in self.flags if f in flags]
        comment = " ".join(comment.split())  # one line in the CSV
        with self._lock:
            self._log.append(self.notes_path, NOTES_COLUMNS, [object_id, self.inspector, ";".join(flags), comment,
                                                              utc_now()])
            self._notes[object_id] = {"flags": flags, "comment": comment} if flags or comment else None
        return {"object_id": object_id, "flags": flags, "comment": comment}

    # ---------------------------------------------------------------- pixels

    def png_path(self, index: int, label: str = "png") -> Path | None:
        return self.items[index]["pngs"].get(label) if 0 <= index < len(self.items) else None

    def pixels(self, index: int, band: str) -> tuple[np.ndarray, dict]:
        """One band of one stamp, rows north first (display order), and ``{shape, limits}``."""
        image = self.cubes.pixels(index, band)[::-1]
        return image, {"shape": list(image.shape), "limits": display_limits(image), "box": None}

    def field(self, index: int) -> tuple[np.ndarray, dict]:
        """The wider field around object ``index`` from its tile (rows north first), with the stamp's box size."""
        item = self.items[index]
        if not (self.context and self.fields and item["tile"] and np.isfinite(item["ra"])):
            raise InputError("no wider field for this object (needs --tile-dir, a candidate with a tile, and in "
                             "blind mode a set without mixed-in simulations)")
        image, scale = self.fields.cutout(str(item["tile"]), float(item["ra"]), float(item["dec"]))
        box = None
        if self.cubes.bands:
            band = self.cubes.bands[0]
            box = self.cubes.pixels(index, band).shape[0] * self.cubes.pixel_scale(band) / scale
        return image[::-1], {"shape": list(image.shape), "limits": display_limits(image),
                             "box": None if box is None or not np.isfinite(box) else float(box)}

    def stamp_fits(self, index: int) -> tuple[bytes, str]:
        """The object's stamp (all bands) as a FITS file, and a file name; blind mode keeps ids out."""
        item = self.items[index]
        name = item["object_id"] if self.unblind else item["name"]
        cards = {"OBJECT": (_fits_text(name)[:68], "lensfinder inspection set")}
        if self.context and np.isfinite(item["ra"]):
            cards.update(OBJRA=(float(item["ra"]), "[deg] object position (stamp centre)"),
                         OBJDEC=(float(item["dec"]), "[deg] object position (stamp centre)"))
        images = {band: self.cubes.pixels(index, band) for band in self.cubes.bands}
        if self.cubes.bands and np.isfinite(self.cubes.pixel_scale(self.cubes.bands[0])):
            cards["PIXSCALE"] = (self.cubes.pixel_scale(self.cubes.bands[0]), "arcsec per pixel")
        return stamp_fits(images, cards), f"{safe_name(name)}.fits"


def _fits_text(text: str) -> str:
    """``text`` as a FITS header value, which must be printable ASCII: accents dropped (``Hölzl`` -> ``Holzl``),
    any other character outside it as ``?``."""
    plain = "".join(ch for ch in unicodedata.normalize("NFKD", str(text)) if not unicodedata.combining(ch))
    return "".join(ch if " " <= ch <= "~" else "?" for ch in plain)
