"""The prompt sent to the image model for each category."""

from __future__ import annotations

from picpaygo_core.models import Category

_KEEP_THE_PERSON = (
    "Restyle the attached photo. Keep the person fully recognisable: same face, "
    "features, skin tone, hair, expression and body proportions; do not add or remove "
    "people, text or logos. "
)

PROMPTS: dict[Category, str] = {
    Category.PORTRAITS: _KEEP_THE_PERSON
    + "Make it a professional studio portrait: soft, flattering key light with gentle fill, "
    "a warm, natural colour grading of the skin tones, a classic head-and-shoulders "
    "composition with the eyes on the upper third, shallow depth of field with a smooth, "
    "softly blurred background, and a subtle vignette. Photorealistic, high detail.",
    Category.EDITORIAL: _KEEP_THE_PERSON
    + "Make it a fashion-magazine editorial photograph: bold directional lighting with "
    "crisp shadows, high contrast, rich saturated colour grading, a confident vertical "
    "4:5 composition with the person as the clear subject. Photorealistic, high detail.",
    Category.DOCUMENTARY: _KEEP_THE_PERSON
    + "Make it a black-and-white documentary photograph: natural available light, honest "
    "unposed feel, visible film grain, deep blacks and a full tonal range, composed like "
    "classic street and reportage photography. Photorealistic.",
}


def build_prompt(category: Category) -> str:
    """The prompt that restyles a photo into ``category``'s look."""
    return PROMPTS[category]
