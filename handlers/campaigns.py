"""A campaign: what it collects, when, under which limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from handlers.text_rules import char_limit

FORM_KINDS = ("story", "registration")


LEVELS = ("MN", "TH", "THCS", "other")
REVIEWERS = "reviewers"


@dataclass(frozen=True)
class ReviewSpec:
    """`[campaigns.review]`: where each school level's stories go, and the review's timing.

    A route is "reviewers" (everyone with the reviewer role for that level) or a chat,
    "telegram:<chat id>" or "zalo:<chat id>", where the notification goes instead (a review
    group on Telegram); who may decide is still checked on every press.
    """

    routes: dict[str, str] = field(default_factory=lambda: dict.fromkeys(LEVELS, REVIEWERS))
    resubmit_to: str = "review"
    remind_after_days: int = 3

    def route(self, level: str) -> str:
        """The route for a unit level."""
        return self.routes.get(level, REVIEWERS)


@dataclass(frozen=True)
class LevelRule:
    """One level of a campaign's ladder, with its own window and monthly quota (issue 20).

    `opens`/`closes` bound when stories may be sent up to the level (and, once it has
    closed, when it may still decide); `quota` is how many stories the level below may send
    up to it per calendar month. None means no limit of that kind.
    """

    organisation: str
    opens: date | None = None
    closes: date | None = None
    quota: int | None = None


@dataclass(frozen=True)
class CampaignSpec:
    """One `[[campaigns]]` table of the campaigns file, validated."""

    slug: str
    title: str
    organisation: str
    opens: date
    closes: date
    form: str = "story"
    max_words: int = 2000
    min_photos: int = 1
    max_photos: int = 10
    focus_areas: tuple[str, ...] = ()
    require_unit_confirmation: bool = True
    monthly_quota: int = 1
    monthly_deadline_day: int = 15
    reminder_days: tuple[int, ...] = (10, 14)
    review: ReviewSpec = field(default_factory=lambda: ReviewSpec())
    # The organisations a story climbs through after the unit's confirmation: the first is
    # the campaign's own review (today's reviewers), each next one a level a story can be
    # sent up to. Empty: the story's life ends at the review's decision.
    ladder: tuple[str, ...] = ()
    # Letter 001: each month every unit head nominates one exemplar of the month (01 gương
    # tiêu biểu) before `exemplar_deadline_day`, reminded on `exemplar_reminder_days`.
    monthly_exemplar: bool = False
    exemplar_deadline_day: int = 25
    exemplar_reminder_days: tuple[int, ...] = (20, 24)
    # The ladder's levels with their dates and quotas, one per name in `ladder` (a plain
    # name in the file gives a rule without limits). Empty when the campaign has no ladder.
    ladder_rules: tuple[LevelRule, ...] = ()

    def rule(self, level: int) -> LevelRule:
        """The rule of ladder level `level` (0 is the campaign's own review)."""
        if level < len(self.ladder_rules):
            return self.ladder_rules[level]
        return LevelRule(self.ladder[level])

    @property
    def max_chars(self) -> int:
        """The story's character limit, from its word limit (see text_rules.char_limit)."""
        return char_limit(self.max_words)

    def is_open(self, today: date) -> bool:
        """Whether submissions are accepted on `today` (both ends included)."""
        return self.opens <= today <= self.closes


# Focus areas named by letter 001 (Thanh Xuân education office, 2023).
LETTER_001_FOCUS_AREAS = (
    "Đổi mới công tác lãnh đạo, chỉ đạo, điều hành",
    "Đẩy mạnh cải cách hành chính",
    "Xây dựng nếp sống thanh lịch, văn minh người Hà Nội",
    "An toàn thực phẩm",
    "An toàn trường học",
    "Chuyển đổi số trong lĩnh vực giáo dục",
)


# The quick start's two-level ladder (letter 001): the education office reviews, then sends
# its good stories up to the district Home Affairs office, so a newcomer can try nominating
# up in the console with nothing configured.
BUILTIN_LADDER = ("Phòng GDĐT quận Thanh Xuân", "Phòng Nội vụ quận Thanh Xuân")


def builtin_organisations() -> list[tuple[str, str | None]]:
    """The built-in ladder's organisations as (name, parent), top first."""
    return [(BUILTIN_LADDER[1], None), (BUILTIN_LADDER[0], BUILTIN_LADDER[1])]


def builtin_campaign(today: date) -> CampaignSpec:
    """The campaign used when no file is given, modelled on letter 001.

    The letter's contest runs 20/9 to 03/4; the built-in one takes the school year's window
    that has not yet closed on `today`, so a fresh install has a campaign that is open during
    the school year.
    """
    start_year = today.year if today > date(today.year, 4, 3) else today.year - 1
    return CampaignSpec(
        slug=f"nguoi-tot-viec-tot-{start_year}-{start_year + 1}",
        title=(
            "Cuộc thi viết về gương điển hình tiên tiến, người tốt, việc tốt "
            f"năm học {start_year}–{start_year + 1}"
        ),
        organisation="Phòng GDĐT quận Thanh Xuân",
        opens=date(start_year, 9, 20),
        closes=date(start_year + 1, 4, 3),
        focus_areas=LETTER_001_FOCUS_AREAS,
        ladder=BUILTIN_LADDER,
    )
