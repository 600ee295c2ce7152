"""``civicpoints demo``: load the demo county (see ``civicpoints.demo.county``)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from civicpoints.demo.county import DEMO_PIN, DEMO_VILLAGE, STAFF, build_demo
from civicpoints.households.models import Household
from civicpoints.schemes.models import Scheme, User


class Command(BaseCommand):
    help = "生成演示县：乡镇、村、农户、工作人员和积分记录"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--households", type=int, default=300)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--password", default=os.environ.get("DEMO_PASSWORD", ""))
        parser.add_argument("--history", type=int, default=None, help="有积分记录的农户数")
        parser.add_argument(
            "--if-empty", action="store_true", help="数据库已有数据时不再生成（只重设演示密码）"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        password = opts["password"]
        if not password:
            raise CommandError(_("请用 --password 或环境变量 DEMO_PASSWORD 设置演示账号的密码"))
        if not 1 <= opts["households"] <= 1_000_000:
            raise CommandError(_("--households 应在 1 到 1000000 之间"))
        if opts["if_empty"] and Scheme.objects.exists():
            for username, *_rest in STAFF:
                user = User.objects.filter(username=username).first()
                if user is not None:
                    user.set_password(password)
                    user.save(update_fields=["password"])
            self.stdout.write(_("数据库已有数据，跳过演示数据生成。"))
            self._resident()
            return
        result = build_demo(
            households=opts["households"],
            seed=opts["seed"],
            password=password,
            history=opts["history"],
            progress=lambda msg: self.stdout.write(f"  {msg}"),
        )
        self.stdout.write(
            _(
                "演示县已生成：%(scheme)s，%(villages)s 个村，%(households)s 户，"
                "%(postings)s 笔积分记录。演示农户 PIN：%(pin)s"
            )
            % {
                "scheme": result.scheme.name,
                "villages": result.villages,
                "households": result.households,
                "postings": result.postings,
                "pin": DEMO_PIN,
            }
        )
        self._resident()

    def _resident(self) -> None:
        """A demo resident to try the phone pages (/m/) with."""
        household = (
            Household.objects.filter(village__name=DEMO_VILLAGE, pin_hash__gt="")
            .order_by("pk")
            .first()
        )
        if household is not None:
            self.stdout.write(
                _("演示村民：%(name)s，卡号 %(card)s，PIN %(pin)s（村民页面 /m/）")
                % {"name": household.head_name, "card": household.card_code, "pin": DEMO_PIN}
            )
            if household.phone:
                self.stdout.write(
                    _(
                        "  也可用手机号 %(phone)s 和短信验证码登录（开发环境的短信打印在服务器日志里）"
                    )
                    % {"phone": household.phone}
                )
