"""Plain-Python order-flow signals, written from docs/analytics.md ("## Signals") alone.

Independent of the code under test: no import of pipelines.analytics.signals, signal_tracker,
footprint_kernels or profile. Trades are (time_ms, price_ticks, qty_steps, taker_sold) tuples in
trade order (time, then aggTrade id); everything is dicts, ints and loops. Levels are absolute
(`floor(ticks / bin)`); a signal's `low`/`high` are its lowest and highest levels' lower edges in
ticks.
"""

from __future__ import annotations

import math

MINUTE = 60_000
HOUR = 60 * MINUTE
TIMEFRAMES = {"1m": MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE}

# The doc's parameters.
RATIO = 3  # diagonal imbalance, 300 %
MIN_STEPS = 1
STACK = 3
ALPHA, K = 3, 2  # absorption
N_EXHAUSTION = 5
NAKED_HOURS = 24
REFERENCE_SLOTS = 60  # strength: this bar and the 59 slots before it; rvol: the 60 before it
AUTO_BARS_BEFORE = 15  # the auto bin's span: this bar and the bars opened in 15 lengths before
AUTO_ROWS = 40


# 1, 2, 5, 10, 20, 25, 50, 100, ...: the doc's list, read as continuing by decades
# (10, 20, 25, 50) x 10^k up to 10,000. (footprint.BIN_MULTIPLES has no 2000: the two differ
# only for spans of 40,000 to 79,999 ticks, which no test here reaches.)
BINS = [1, 2, 5, *(m * 10**k for k in range(3) for m in (10, 20, 25, 50)), 10_000]


def auto_bin(span: int) -> int:
    """The smallest bin that shows `span` ticks in at most 40 rows (span // bin + 1 rows)."""
    return next((m for m in BINS if span // m + 1 <= AUTO_ROWS), BINS[-1])


def bar_signals(trades, tf_ms, bin_ticks=None, emit_from=None):
    """(signals, bar stats) of one contract on one timeframe, bar by bar in time order.

    A signal is a dict: kind, side, bar_time, tf_ms, bin, low, high, levels, volume, notional,
    strength. A bar stat is a dict: bar_time, tf_ms, bin, close, volume, delta, notional,
    levels, buy_imbalances, sell_imbalances, rvol.
    """
    bars = {}
    for time, price, qty, sold in trades:
        bars.setdefault(time // tf_ms * tf_ms, []).append((price, qty, sold))

    history = {}  # bar_time -> dict(low, high, volume, levels)  (ticks; levels at its own bin)
    naked = []  # [bar_time, low_tick, high_tick, volume, notional] of naked POCs, oldest first
    first = min(bars) if bars else None
    signals, stats = [], []
    for t in sorted(bars):
        rows = bars[t]
        low = min(p for p, _, _ in rows)
        high = max(p for p, _, _ in rows)
        opened, close = rows[0][0], rows[-1][0]

        if bin_ticks is not None:
            b = bin_ticks
        else:
            lows, highs = [low], [high]
            for u, h in history.items():
                if t - AUTO_BARS_BEFORE * tf_ms <= u < t:
                    lows.append(h["low"])
                    highs.append(h["high"])
            b = auto_bin(max(highs) - min(lows))

        A, B, AN, BN = {}, {}, {}, {}  # steps and ticks x steps, per level
        traded = set()
        for p, q, sold in rows:
            i = p // b
            traded.add(i)
            A.setdefault(i, 0)
            B.setdefault(i, 0)
            AN.setdefault(i, 0)
            BN.setdefault(i, 0)
            if sold:
                B[i] += q
                BN[i] += p * q
            else:
                A[i] += q
                AN[i] += p * q

        def a(i, A=A):
            return A.get(i, 0)

        def bb(i, B=B):
            return B.get(i, 0)

        def v(i, A=A, B=B):
            return A.get(i, 0) + B.get(i, 0)

        lo, hi = min(traded), max(traded)
        c = close // b
        total = sum(v(i) for i in traded)
        delta = sum(A.values()) - sum(B.values())
        n = len(traded)

        found = []

        def add(kind, side, first_level, last_level, levels, volume, notional, found=found, b=b):
            found.append(
                {"kind": kind, "side": side, "low": first_level * b, "high": last_level * b,
                 "levels": levels, "volume": volume, "notional": notional}
            )  # fmt: skip

        # Diagonal imbalances (B[lo - 1] = A[hi + 1] = 0: missing keys).
        buy_imb = {i for i in traded if a(i) >= MIN_STEPS and a(i) >= RATIO * bb(i - 1)}
        sell_imb = {i for i in traded if bb(i) >= MIN_STEPS and bb(i) >= RATIO * a(i + 1)}

        # Stacked imbalances: maximal runs of >= 3 adjacent levels.
        for side, flagged, own, own_n in (("buy", buy_imb, A, AN), ("sell", sell_imb, B, BN)):
            i = lo
            while i <= hi:
                if i in flagged:
                    j = i
                    while j + 1 in flagged:
                        j += 1
                    if j - i + 1 >= STACK:
                        run = range(i, j + 1)
                        add("stacked_imbalance", side, i, j, j - i + 1,
                            sum(own.get(x, 0) for x in run), sum(own_n.get(x, 0) for x in run))  # fmt: skip
                    i = j + 1
                else:
                    i += 1

        # Unfinished auctions.
        for side, i in (("high", hi), ("low", lo)):
            if a(i) > 0 and bb(i) > 0:
                add("unfinished_auction", side, i, i, 1, v(i), AN[i] + BN[i])

        # Absorption (bar form).
        if hi - lo >= 2:
            if 2 * (c - lo) >= hi - lo:
                hits = [i for i in range(lo, lo + K + 1) if bb(i) * n >= ALPHA * total]
                if hits:
                    add("absorption", "buy", hits[0], hits[-1], len(hits),
                        sum(bb(i) for i in hits), sum(BN.get(i, 0) for i in hits))  # fmt: skip
            if 2 * (hi - c) >= hi - lo:
                hits = [i for i in range(hi - K, hi + 1) if a(i) * n >= ALPHA * total]
                if hits:
                    add("absorption", "sell", hits[0], hits[-1], len(hits),
                        sum(a(i) for i in hits), sum(AN.get(i, 0) for i in hits))  # fmt: skip

        # Exhaustion.
        if hi - lo >= N_EXHAUSTION - 1:
            top = [hi - j for j in range(N_EXHAUSTION)]  # hi, hi - 1, ..., hi - 4
            if all(v(i) > 0 for i in top) and all(
                a(top[j]) < a(top[j + 1]) for j in range(N_EXHAUSTION - 1)
            ):
                add("exhaustion", "high", top[-1], top[0], N_EXHAUSTION,
                    sum(a(i) for i in top), sum(AN.get(i, 0) for i in top))  # fmt: skip
            bottom = [lo + j for j in range(N_EXHAUSTION)]
            if all(v(i) > 0 for i in bottom) and all(
                bb(bottom[j]) < bb(bottom[j + 1]) for j in range(N_EXHAUSTION - 1)
            ):
                add("exhaustion", "low", bottom[0], bottom[-1], N_EXHAUSTION,
                    sum(bb(i) for i in bottom), sum(BN.get(i, 0) for i in bottom))  # fmt: skip

        # Delta divergence against the bar that opened right before (it must have traded).
        prev = history.get(t - tf_ms)
        if prev is not None:
            p_lo, p_hi = prev["low"] // b, prev["high"] // b
            side = None
            if hi > p_hi and lo > p_lo and delta < 0:
                side = "sell"
            elif lo < p_lo and hi < p_hi and delta > 0:
                side = "buy"
            if side:
                add("delta_divergence", side, lo, hi, hi - lo + 1, abs(delta),
                    abs(sum(AN.values()) - sum(BN.values())))  # fmt: skip

        # Naked POC touches, then this bar's POC becomes naked.
        still = []
        for poc in naked:
            poc_time, poc_low, poc_high, poc_volume, poc_notional = poc
            if t - poc_time > NAKED_HOURS * HOUR:
                continue  # forgotten
            if low <= poc_high and high >= poc_low:  # the bar's traded range overlaps it
                if poc_time != t - tf_ms:  # a POC filled by the next bar was never naked
                    side = "high" if poc_high >= opened else "low"
                    found.append({"kind": "naked_poc_touch", "side": side, "low": poc_low,
                                  "high": poc_low, "levels": 1, "volume": poc_volume,
                                  "notional": poc_notional})  # fmt: skip
                continue
            still.append(poc)
        most = max(v(i) for i in traded)
        poc_level = min(i for i in traded if v(i) == most)
        still.append([t, poc_level * b, poc_level * b + b - 1, most, AN[poc_level] + BN[poc_level]])
        naked = still

        # Significance: volume per traded level over this bar and the 59 slots before it.
        ref_volume, ref_levels = total, n
        for u, h in history.items():
            if t - (REFERENCE_SLOTS - 1) * tf_ms <= u < t:
                ref_volume += h["volume"]
                ref_levels += h["levels"]
        per_level = ref_volume / ref_levels

        # RVOL: against the mean of the 60 slots before it (empty slots count 0), since `first`.
        slots = min(REFERENCE_SLOTS, (t - first) // tf_ms)
        before = sum(
            h["volume"] for u, h in history.items() if t - REFERENCE_SLOTS * tf_ms <= u < t
        )
        rvol = total / (before / slots) if slots and before else math.nan

        history[t] = {"low": low, "high": high, "volume": total, "levels": n}
        if emit_from is not None and t < emit_from:
            continue
        for f in found:
            f.update(bar_time=t, tf_ms=tf_ms, bin=b, strength=f["volume"] / per_level)
            signals.append(f)
        stats.append(
            {"bar_time": t, "tf_ms": tf_ms, "bin": b, "close": close, "volume": total,
             "delta": delta, "notional": sum(AN.values()) + sum(BN.values()), "levels": n,
             "buy_imbalances": len(buy_imb), "sell_imbalances": len(sell_imb), "rvol": rvol}
        )  # fmt: skip
    return signals, stats


def naive_signals(trades, timeframes=("1m", "5m", "15m"), bin_ticks=None, emit_from=None):
    """Signals and bar stats of one contract on every timeframe (lists of dicts)."""
    signals, stats = [], []
    for tf in timeframes:
        s, b = bar_signals(trades, TIMEFRAMES[tf], bin_ticks, emit_from)
        signals += s
        stats += b
    return signals, stats
