"""Paper and survey constants: one source of truth for every number.

Each constant names the equation, table or section it comes from.
"""

__all__ = [
    "HTTP_TIMEOUT_S",
    "PRECISIONS",
    "SCORING_PRECISIONS",
    "KIDS_COADD_PIXEL_SCALE_ARCSEC",
    "KIDS_CATALOG_PIXEL_SCALE_ARCSEC",
    "HE2020_PIXEL_SCALE_ARCSEC",
    "HE2020_STAMP_SIZE",
    "LI2020_STAMP_SIZE",
    "HE2020_INPUT_SIZE",
    "HE2020_N_PARAMETERS",
    "ADAM_EPSILON",
    "MOCK_ZEROPOINT_MAG",
    "KIDS_MEDIAN_PSF_FWHM_ARCSEC",
    "THRESHOLDS",
    "LI2020_GRADE_SCORES",
    "HE2020_GRADE_SCORES",
    "MOFFAT_FIT_PREFIXES",
    "STAMP_BAND_PREFIXES",
    "HOST_BAND_PREFIXES",
]

#: KiDS coadd images are resampled onto a 0.2"/px grid (de Jong et al. 2017).
KIDS_COADD_PIXEL_SCALE_ARCSEC = 0.2
#: Catalogue pixel columns (FLUX_RADIUS, Xpos, Ypos) live on the 0.213"/px
#: OmegaCAM detector grid (Kuijken et al. 2019).
KIDS_CATALOG_PIXEL_SCALE_ARCSEC = 0.213
#: He et al. 2020, section 3.4: simulated pixels of 0.21".
HE2020_PIXEL_SCALE_ARCSEC = 0.21
#: He et al. 2020, section 3.4: 97 x 97 pixel stamps (about 20" x 20").
HE2020_STAMP_SIZE = 97
#: Li et al. 2020, section 2.1: 101 x 101 pixel cutouts (20" x 20").
LI2020_STAMP_SIZE = 101
#: He et al. 2020, section 2: 49 x 49 one-channel network input.
HE2020_INPUT_SIZE = 49
#: He et al. 2020, section 2: number of trainable parameters.
HE2020_N_PARAMETERS = 2_101_372
#: He et al. 2020, eq. 7 (Kingma & Ba 2015): Adam's epsilon, not Keras's 1e-7.
ADAM_EPSILON = 1e-8
#: Photometric zero point of the mock survey and of simulated images:
#: counts = 10**(-0.4 * (mag - MOCK_ZEROPOINT_MAG)).
MOCK_ZEROPOINT_MAG = 30.0
#: He et al. 2020, section 3.4: median KiDS r-band seeing (de Jong et al. 2017).
KIDS_MEDIAN_PSF_FWHM_ARCSEC = 0.65

#: Candidate thresholds on p_CNN.
THRESHOLDS = {
    # He et al. 2020, section 4.1 (fully simulated training set).
    "he2020_simulated": 0.999999,
    # He et al. 2020, section 4.2 (semi-real training set).
    "he2020_semireal": 0.5,
    # Li et al. 2020, section 2.3 and 3.1.
    "li2020_lrg": 0.75,
    "li2020_bg": 0.98,
}

#: Li et al. 2020, section 3.2: A, B, C, D -> 10, 7, 3, 0.
LI2020_GRADE_SCORES = {"A": 10, "B": 7, "C": 3, "D": 0}
#: He et al. 2020, section 4.1: definite 2, possible 1, non-lens 0.
HE2020_GRADE_SCORES = {"2": 2, "1": 1, "0": 0}

#: HTTP timeout of every downloading step, seconds (archives answer slowly under load).
HTTP_TIMEOUT_S = 300.0
#: ``training.precision``: ``auto`` (Keras's ``mixed_float16`` where a GPU is visible, ``float32`` on a CPU)
#: or a Keras precision policy for every machine (lensfinder.learning.runtime; here, where the command
#: line reads it without importing Keras).
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
#: Precisions a network can be scored in (``lensfinder infer`` and ``rescore --precision``, the workflow's
#: ``inference.precision``): ``float32``, or ``mixed_bfloat16`` (lensfinder.learning.modelfiles.computing_in).
SCORING_PRECISIONS = ("float32", "mixed_bfloat16")

#: Prefixes of a table's Moffat fits of its tile's PSF, each followed by the band: a stamp index's, from
#: its tile's stars (lensfinder.selection.stamps.moffat_columns), carried on by fine-tuning sets and by the
#: semi-real simulations' rows; the colour residual's PSF match reads them (lensfinder.learning.residual)
MOFFAT_FIT_PREFIXES = ("psf_moffat_fwhm_arcsec_", "psf_moffat_beta_")
#: A stamp index's seeing and zero point in each band (``psf_fwhm_arcsec_{band}``, ``zeropoint_mag_{band}``),
#: which a semi-real row keeps as ``host_psf_fwhm_arcsec_{band}``, ``host_zeropoint_mag_{band}``: the arcs of
#: every band get them (lensfinder.simulation.host_bands)
STAMP_BAND_PREFIXES = ("psf_fwhm_arcsec_", "zeropoint_mag_")
HOST_BAND_PREFIXES = tuple(f"host_{prefix}" for prefix in STAMP_BAND_PREFIXES)
