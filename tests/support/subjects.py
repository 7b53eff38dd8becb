"""A corpus of non-ASCII mail subjects (French, Arabic, Chinese, emoji, mixed scripts), of
every length from a word to several folded lines, for the header folding tests."""

from __future__ import annotations

BASES = [
    # French
    "Réunion d'urgence du Conseil de sécurité sur la situation à El Fasher",
    "Les civils pris au piège : « risque imminent » de crimes de masse",
    "Génocide, crimes contre l'humanité : l'ONU s'inquiète à Goma",
    "Déplacés à Khartoum — où en est la protection des populations ?",
    "L'Assemblée générale adopte la résolution sur la responsabilité de protéger",
    "Œuvre humanitaire : l'accès aux camps reste bloqué",
    # Arabic
    "مجلس الأمن يعقد جلسة طارئة بشأن الوضع في الفاشر",
    "المدنيون في خطر الإبادة الجماعية في دارفور",
    "الأمم المتحدة تحذر من جرائم ضد الإنسانية في السودان",
    "تقرير المستشار الخاص المعني بمنع الإبادة الجماعية",
    # Chinese
    "联合国安理会就法希尔局势举行紧急会议",
    "平民面临暴行风险，人权理事会启动调查",
    "保护的责任：大会通过决议",
    "秘书长呼吁立即停火并保护平民",
    # Emoji, alone and in sequences (flags, skin tones, ZWJ families)
    "🚨 Urgent alert 🚨",
    "🇸🇩 Sudan: civilians at risk 🆘",
    "👩🏽‍⚕️ Health workers attacked in Gaza 🏥",
    "📰 Weekly digest · 12 stories for you 🌍",
    "👨‍👩‍👧‍👦 Families separated at the border ⚠️",
    # Mixed scripts and punctuation
    "ONU / الأمم المتحدة / 联合国 : déclaration commune",
    "Myanmar (မြန်မာ): Rohingya “genocide” case — ICJ update",
    "Україна: захист цивільного населення — Ukraine update",
    "Ελλάδα & Türkiye: réfugiés — «protection» en mer Égée",
    "ሰብአዊ መብት Ethiopia: Tigray أزمة 危机 crise",
    "Zero\u200bwidth and non\u00a0breaking spaces, soft\u00adhyphen: ça marche ?",
]
PREFIXES = ["", "Urgent: ", "[TEST] Urgent: ", "R2P weekly digest: ", "Re: "]
REPEATS = [1, 2, 4]


def corpus() -> list[str]:
    """306 subjects: every base with every prefix, once, twice and four times over, plus
    the shortest cases (one character of each kind)."""
    subjects = [
        prefix + " ".join([base] * times)
        for base in BASES
        for prefix in PREFIXES
        for times in REPEATS
        if not (times == 4 and prefix not in ("", "Urgent: "))
    ]
    subjects += ["é", "ع", "中", "🚨", "é é", "a é", "é a", "中 文", "🚨🚨", "x" * 80 + "é"]
    subjects += ["Café " * 30, "中" * 120, "👩‍👩‍👧" * 20, "a" * 75 + " é " + "b" * 75]
    subjects += ["« " + "mot " * 40 + "»", "Réunion" + "\u0301" * 3]
    return subjects
