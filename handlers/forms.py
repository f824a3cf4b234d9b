"""Forms are data: an ordered list of typed fields that the wizard, preview and edit menu read."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from handlers.campaigns import CampaignSpec


class FieldKind(StrEnum):
    """What sort of answer a field takes."""

    SHORT_TEXT = "short_text"
    LONG_TEXT = "long_text"
    CHOICE = "choice"
    UNIT = "unit"
    PHONE = "phone"
    PHOTOS = "photos"


@dataclass(frozen=True)
class FormField:
    """One question of a form, with the limits its answer must meet."""

    key: str
    kind: FieldKind
    min_length: int = 2
    max_length: int = 200
    max_words: int = 0
    max_chars: int = 0
    min_count: int = 0
    max_count: int = 0
    options: tuple[str, ...] = ()
    allow_other: bool = False
    # An optional field is asked once, with a "skip" button.
    required: bool = True
    # A person's name: typed all in lower case on a phone, it is stored capitalised.
    is_name: bool = False
    # Carried by the web editor too (long text is hard on a phone's chat keyboard).
    on_web: bool = False


@dataclass(frozen=True)
class Form:
    """A named, ordered list of fields."""

    name: str
    fields: tuple[FormField, ...]

    def index(self, key: str) -> int:
        """Position of the field called `key`."""
        return next(i for i, f in enumerate(self.fields) if f.key == key)

    def get(self, key: str) -> FormField | None:
        """The field called `key`, if the form has one."""
        return next((f for f in self.fields if f.key == key), None)


PROFILE_FORM = Form(
    "profile",
    (
        FormField("full_name", FieldKind.SHORT_TEXT, min_length=2, max_length=100, is_name=True),
        FormField("unit", FieldKind.UNIT),
        FormField("phone", FieldKind.PHONE),
    ),
)


def story_form(campaign: CampaignSpec) -> Form:
    """The good-deed story of letter 001, with the campaign's limits."""
    return Form(
        "story",
        (
            FormField(
                "exemplar_name", FieldKind.SHORT_TEXT, min_length=2, max_length=100, is_name=True
            ),
            FormField("exemplar_address", FieldKind.SHORT_TEXT, min_length=5, max_length=300),
            FormField(
                "focus_area",
                FieldKind.CHOICE,
                max_length=200,
                options=campaign.focus_areas,
                allow_other=True,
            ),
            FormField("title", FieldKind.SHORT_TEXT, min_length=3, max_length=200, on_web=True),
            FormField(
                "story",
                FieldKind.LONG_TEXT,
                max_words=campaign.max_words,
                max_chars=campaign.max_chars,
                on_web=True,
            ),
            FormField(
                "photos",
                FieldKind.PHOTOS,
                min_count=campaign.min_photos,
                max_count=campaign.max_photos,
            ),
        ),
    )


def registration_form(campaign: CampaignSpec) -> Form:
    """Letter 003's registration of models and exemplars: the unit (the author's), the model
    or exemplar's name, its field, and a note; a unit may register several."""
    return Form(
        "registration",
        (
            FormField("model_name", FieldKind.SHORT_TEXT, min_length=3, max_length=300),
            FormField(
                "field",
                FieldKind.CHOICE,
                max_length=200,
                options=campaign.focus_areas,
                allow_other=True,
            ),
            FormField("note", FieldKind.SHORT_TEXT, min_length=1, max_length=500, required=False),
        ),
    )


# Each campaign's form, built once: most updates ask for it, and a campaign's settings
# (a frozen spec, loaded once a process) do not change. Kept by the spec's identity, as a
# spec holds dicts and has no hash; bounded, since tests make many.
_FORMS: dict[int, tuple[CampaignSpec, Form]] = {}
_FORMS_KEPT = 64


def form_for(campaign: CampaignSpec) -> Form:
    """The form a campaign collects."""
    kept = _FORMS.get(id(campaign))
    if kept is not None and kept[0] is campaign:
        return kept[1]
    form = registration_form(campaign) if campaign.form == "registration" else story_form(campaign)
    if len(_FORMS) >= _FORMS_KEPT:
        _FORMS.clear()
    _FORMS[id(campaign)] = (campaign, form)
    return form
