"""Village life in the demo village: announcements (one pinned, one scheduled) and complaints
and suggestions, one answered, one still waiting, so every page has something to show."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from civicpoints.community.models import FeedbackKind, FeedbackStatus
from civicpoints.community.services import (
    announcement_post,
    feedback_reply,
    feedback_set_status,
    feedback_submit,
)
from civicpoints.households.models import Household
from civicpoints.schemes.models import Region, Scheme, User
from civicpoints.schemes.scope import actor_for_user

ANNOUNCEMENTS = [
    (
        "冬季防火通知",
        "入冬以来天干物燥，请各户检查炉具、烟道，不要在屋里和院墙边堆放柴草。\n"
        "村里将于本月10日统一入户检查，检查合格的户计入「平安建设」积分。",
        True,
        dt.timedelta(days=-6),
    ),
    (
        "本月积分公示与兑换安排",
        "本月申报的积分已张贴在村委会公示栏，公示3天，有异议可以在手机上提出。\n"
        "爱心超市兑换日为每周六上午9点到11点。",
        False,
        dt.timedelta(days=-2),
    ),
    (
        "元旦文艺汇演报名",
        "村里元旦举办文艺汇演，欢迎各户报名节目，参加演出计志愿服务时长。",
        False,
        dt.timedelta(days=3),  # scheduled: residents see it in three days
    ),
]


def build_village_life(*, scheme: Scheme, village: Region) -> tuple[int, int]:
    """Announcements and complaints for ``village``; return how many of each."""
    admin = actor_for_user(User.objects.get(username="village-admin"))
    now = timezone.now()
    for title, body, pinned, offset in ANNOUNCEMENTS:
        announcement_post(
            actor=admin,
            village_id=village.pk,
            title=title,
            body=body,
            pinned=pinned,
            published_at=now + offset if offset > dt.timedelta(0) else None,
            at=now + offset if offset < dt.timedelta(0) else now,
        )
    homes = list(
        Household.objects.filter(scheme=scheme, village=village, pin_hash__gt="").order_by("pk")[:3]
    )
    if len(homes) < 2:
        return len(ANNOUNCEMENTS), 0
    lamp = feedback_submit(
        household=homes[0],
        kind=FeedbackKind.COMPLAINT,
        text="村东头路灯坏了一个多月，晚上出门看不见路，老人孩子容易摔倒。",
        at=now - dt.timedelta(days=4),
    )
    feedback_reply(
        actor=admin,
        feedback=lamp,
        text="已报镇电力所，师傅本周内来修。修好后村里再通知您，谢谢您反映！",
        at=now - dt.timedelta(days=3),
    )
    bins = feedback_submit(
        household=homes[1],
        kind=FeedbackKind.SUGGESTION,
        text="建议在村口和小学门口各加一个分类垃圾箱。",
        at=now - dt.timedelta(days=1),
    )
    feedback_set_status(actor=admin, feedback=bins, status=FeedbackStatus.IN_PROGRESS)
    feedback_submit(
        household=homes[-1],
        kind=FeedbackKind.SUGGESTION,
        text="希望冬天村活动室能开放，大家可以在里面下棋、唱歌。",
    )
    return len(ANNOUNCEMENTS), 3
