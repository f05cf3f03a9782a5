"""One prompt per category, written for restyling a person's photo."""

from __future__ import annotations

import pytest

from picpaygo_core.models import Category
from picpaygo_core.prompts import build_prompt


def test_every_category_has_its_own_prompt() -> None:
    prompts = {category: build_prompt(category) for category in Category}

    assert len(set(prompts.values())) == len(Category)


@pytest.mark.parametrize("category", list(Category))
def test_every_prompt_keeps_the_person_recognisable(category: Category) -> None:
    prompt = build_prompt(category).lower()

    assert "recognisable" in prompt
    assert "same face" in prompt


@pytest.mark.parametrize(
    ("category", "style_words"),
    [
        (Category.PORTRAITS, ("studio portrait", "light", "colour grading", "composition")),
        (Category.EDITORIAL, ("editorial", "colour grading", "composition")),
        (Category.DOCUMENTARY, ("black-and-white", "documentary", "light", "composed")),
    ],
)
def test_each_prompt_asks_for_its_styles_light_grading_and_composition(
    category: Category, style_words: tuple[str, ...]
) -> None:
    prompt = build_prompt(category).lower()

    assert all(word in prompt for word in style_words), prompt
