"""Small numeric kernels shared by the engine's components (compiled by
mypyc as part of the engine's unit): moments, Cholesky, quantiles and tails,
the seeded generator behind Monte Carlo VaR, and little helpers on prices and
quantities. Plain loops, no numpy, no sum() over floats (see DESIGN.md: the
compiled and interpreted results must agree to the bit).
"""

import math

from librt.vecs import vec
from mypy_extensions import i64

Z95 = 1.6448536269514722  # standard normal 95% quantile
Z99 = 2.3263478740408408  # standard normal 99% quantile
TAIL_SLACK = 24  # a LowTail keeps this many past what its quantile reads: a reselection is rare

from core.overlay import PutHolding
from core.strategy import RollingWindow


def mul64(a: int, b: int) -> int:
    """(a * b) mod 2**64 for 0 <= a, b < 2**64, column by column from 16-bit
    limbs: no partial sum reaches 2**35, so no big-integer multiplication.
    (CPython checks for signals inside a big multiplication; a Ctrl-C that
    landed there failed a multiply that compiled code takes as infallible,
    and mypyc aborted the process: "fatal: out of memory".)"""
    a0 = a & 0xFFFF
    a1 = (a >> 16) & 0xFFFF
    a2 = (a >> 32) & 0xFFFF
    a3 = (a >> 48) & 0xFFFF
    b0 = b & 0xFFFF
    b1 = (b >> 16) & 0xFFFF
    b2 = (b >> 32) & 0xFFFF
    b3 = (b >> 48) & 0xFFFF
    c = a0 * b0
    r0 = c & 0xFFFF
    c = (c >> 16) + a0 * b1 + a1 * b0
    r1 = c & 0xFFFF
    c = (c >> 16) + a0 * b2 + a1 * b1 + a2 * b0
    r2 = c & 0xFFFF
    c = (c >> 16) + a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0
    r3 = c & 0xFFFF
    return (r3 << 48) | (r2 << 32) | (r1 << 16) | r0


class DetRandom:
    """A small seeded generator (xorshift64* and Box-Muller) that gives the same
    draws compiled and interpreted, on every machine: replay depends on it.
    64-bit arithmetic without big-integer products (``mul64``)."""

    def __init__(self, seed: int) -> None:
        self.state: int = (mul64(seed & 0xFFFFFFFFFFFFFFFF, 0x9E3779B97F4A7C15) + 1) & 0xFFFFFFFFFFFFFFFF or 1

    def uniform(self) -> float:
        x = self.state
        x ^= (x >> 12)
        x ^= (x & 0x7FFFFFFFFF) << 25  # (x << 25) mod 2**64, without the wider intermediate
        x ^= (x >> 27)
        self.state = x
        return (mul64(x, 0x2545F4914F6CDD1D) >> 11) * (1.0 / 9007199254740992.0)

    def gauss(self) -> float:
        u1 = self.uniform()
        while u1 <= 0.0:
            u1 = self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * self.uniform())


def sample_moments(rets: list[list[float]]) -> tuple[list[float], list[list[float]]]:
    """Means and sample covariance (ddof=1) of equally long series (>= 2 values).
    Plain loops, not ``sum()``: Python 3.12's float sum compensates rounding,
    and compiled and interpreted runs must add alike for replay. The engine
    reads windows in place with ``window_moments``; this list form is its
    definition, which tests hold it to bit for bit."""
    k = len(rets)
    m = len(rets[0]) if k > 0 else 0
    mus: list[float] = []
    for xs in rets:
        total = 0.0
        for x in xs:
            total += x
        mus.append(total / m)
    cov = [[0.0] * k for _ in range(k)]
    for i in range(k):
        for j in range(i + 1):
            acc = 0.0
            for t in range(m):
                acc += (rets[i][t] - mus[i]) * (rets[j][t] - mus[j])
            cov[i][j] = acc / (m - 1)
            cov[j][i] = cov[i][j]
    return mus, cov


def zeroed(buf: vec[float], n: int) -> vec[float]:
    """``buf`` with its first ``n`` values set to 0.0, or a new zeroed vec
    when it is shorter (a scratch buffer reused bar after bar)."""
    if len(buf) < n:
        return vec[float]([0.0] * n)
    i: i64 = 0
    while i < n:
        buf[i] = 0.0
        i += 1
    return buf


def window_moments(wins: list[RollingWindow], n: int) -> tuple[list[float], list[list[float]]]:
    """``sample_moments`` of each window's newest ``n`` values (newest first),
    read in place: the same sums in the same order, so the same bits, without
    copying the windows into lists each bar."""
    k = len(wins)
    mus: list[float] = []
    for w in wins:
        mus.append(w.mean_last(n))  # newest first, as sample_moments sums its lists
    cov = [[0.0] * k for _ in range(k)]
    for i in range(k):
        a = wins[i].values
        cap_a: i64 = wins[i].capacity
        mi = mus[i]
        for j in range(i + 1):
            b = wins[j].values
            cap_b: i64 = wins[j].capacity
            mj = mus[j]
            ia: i64 = wins[i].pos - 1
            ib: i64 = wins[j].pos - 1
            acc = 0.0
            t: i64 = 0
            while t < n:
                if ia < 0:
                    ia += cap_a
                if ib < 0:
                    ib += cap_b
                acc += (a[ia] - mi) * (b[ib] - mj)
                ia -= 1
                ib -= 1
                t += 1
            cov[i][j] = acc / (n - 1)
            cov[j][i] = cov[i][j]
    return mus, cov


def cholesky(a: list[list[float]]) -> list[list[float]]:
    """Lower-triangular L with L L^T = a for a symmetric positive semi-definite
    ``a``; a pivot that is not positive (a singular or numerically negative
    direction) gets a zero column, so a degenerate covariance still simulates."""
    k = len(a)
    low = [[0.0] * k for _ in range(k)]
    for i in range(k):
        for j in range(i + 1):
            acc = a[i][j]
            for c in range(j):
                acc -= low[i][c] * low[j][c]
            if i == j:
                low[i][j] = math.sqrt(acc) if acc > 0.0 else 0.0
            else:
                low[i][j] = acc / low[j][j] if low[j][j] > 0.0 else 0.0
    return low


def tail_loss(pnl: list[float], q: float, nav: float) -> float:
    """Expected shortfall of sorted scenario P&L: minus the mean of the
    scenarios at or below the q-quantile, as a positive fraction of NAV."""
    cut = quantile(pnl, q)
    total = 0.0
    n = 0
    for x in pnl:
        if x > cut:
            break
        total += x
        n += 1
    v = -(total / n) / nav if n > 0 else 0.0
    return v if v > 0.0 else 0.0


def quantile_of(low: list[float], n: int, q: float) -> float:
    """``quantile`` of ``n`` values given only their smallest ones in ascending
    order (``low``, at least up to the quantile's upper neighbour)."""
    pos = q * (n - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    return low[lo] + (low[hi] - low[lo]) * (pos - lo)


def tail_loss_of(low: list[float], n: int, q: float, nav: float) -> float:
    """``tail_loss`` of ``n`` scenario P&Ls given their smallest ones ascending."""
    cut = quantile_of(low, n, q)
    total = 0.0
    k = 0
    for x in low:
        if x > cut:
            break
        total += x
        k += 1
    v = -(total / k) / nav if k > 0 else 0.0
    return v if v > 0.0 else 0.0


def same_bits(a: float, b: float) -> bool:
    """``a`` and ``b`` are the same double: equal and of the same sign
    (0.0 and -0.0 are equal but print apart); never for a NaN."""
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def one_draw(zs: vec[float], i: i64, w0: float, m: float, sq: float) -> float:
    """The i-th lowest Monte Carlo P&L of a book of one position (exposure
    ``w0``, no options) from its draws in order ``zs``: m + sqrt(h) (0 + w0
    z), monotone in z, so the lowest draws for a long, the highest for a short."""
    z: float = zs[i] if w0 >= 0.0 else zs[len(zs) - 1 - i]
    return m + sq * (0.0 + w0 * z)


def draws_quantile(zs: vec[float], w0: float, m: float, sq: float, n: i64, q: float) -> float:
    """``quantile_of`` over one_draw's P&Ls."""
    pos = q * float(n - 1)
    lo: i64 = int(math.floor(pos))
    hi: i64 = min(lo + 1, n - 1)
    a = one_draw(zs, lo, w0, m, sq)
    return a + (one_draw(zs, hi, w0, m, sq) - a) * (pos - float(lo))


def draws_tail_loss(zs: vec[float], w0: float, m: float, sq: float, keep: i64, cut: float, nav: float) -> float:
    """``tail_loss_of`` over the ``keep`` lowest of one_draw's P&Ls, given its quantile ``cut``."""
    total = 0.0
    k: i64 = 0
    while k < keep:
        x = one_draw(zs, k, w0, m, sq)
        if x > cut:
            break
        total += x
        k += 1
    v = -(total / float(k)) / nav if k > 0 else 0.0
    return v if v > 0.0 else 0.0


def sorted_returns(r: RollingWindow) -> list[float]:
    return sorted(r.values[:r.count]) if r.count < r.capacity else sorted(r.values)


def quantile(xs: list[float], q: float) -> float:
    """Linear-interpolation quantile of sorted ``xs`` (numpy's default)."""
    pos = q * (len(xs) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def hist_var(xs: list[float], confidence: float, h: float) -> float:
    """Historical VaR of bar returns, scaled to one day by sqrt(h) (positive fraction)."""
    if len(xs) < 2:
        return 0.0
    v = -quantile(xs, 1.0 - confidence) * math.sqrt(h)
    return v if v > 0.0 else 0.0


def hist_cvar(xs: list[float], confidence: float, h: float) -> float:
    """Mean of the bar returns at or below the VaR quantile, scaled by sqrt(h)."""
    if len(xs) < 2:
        return 0.0
    q = quantile(xs, 1.0 - confidence)
    total = 0.0
    n = 0
    for x in xs:  # ascending: the tail is a prefix
        if x > q:
            break
        total += x
        n += 1
    v = -(total / n) * math.sqrt(h)
    return v if v > 0.0 else 0.0


def cov_times(cov: list[list[float]], expo: list[float]) -> tuple[list[float], float]:
    """(C e, e'C e) for a covariance C and exposures e, in plain loops (never
    sum(): compiled and interpreted 3.12+ must add floats alike)."""
    ce: list[float] = []
    var_p = 0.0
    for i in range(len(expo)):
        acc = 0.0
        for j in range(len(expo)):
            acc += cov[i][j] * expo[j]
        ce.append(acc)
        var_p += expo[i] * acc
    return ce, var_p


def smallest(xs: list[float], m: int) -> list[float]:
    """The ``m`` smallest of ``xs``, ascending: a quickselect (Hoare partition,
    middle pivot: deterministic) moves them to the front of a copy in linear
    time, then only those ``m`` are sorted. The same list a full sort's first
    ``m`` would give; both insertion into a sorted buffer (O(n m)) and a full
    sort cost more for the Monte Carlo's 100 of 2,000 (37 vs 57 us compiled);
    below 500 values a full sort is cheaper (250: 5 us vs 6)."""
    n = len(xs)
    if m >= n:
        return sorted(xs)
    if m <= 0:
        return []
    if n <= 500:
        return sorted(xs)[:m]  # measured: C's sort wins below a few hundred values
    a = list(xs)
    k = m - 1
    lo = 0
    hi = n - 1
    while lo < hi:
        pivot = a[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                t = a[i]
                a[i] = a[j]
                a[j] = t
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    out = a[:m]
    out.sort()
    return out


class Lowest:
    """The ``m`` smallest values of a stream, ascending, each with the position
    it came at; equal values in arrival order. What ``smallest`` gives of the
    whole list, without keeping or sorting the list: a value at or above the
    current m-th smallest (``cut``) costs one comparison. The caller tests
    ``not (x >= low.cut)`` before ``add`` (inlined in the hot loop): true for
    every value while fewer than m are in (``cut`` is NaN until then) and for
    a NaN, which sets ``bad`` (a NaN has no place in an order: the caller then
    falls back to sorting everything, as before)."""

    def __init__(self, m: int) -> None:
        self.m = m
        self.vals: list[float] = []
        self.at: list[int] = []
        self.cut: float = math.nan  # the m-th smallest so far (NaN until m are in)
        self.bad: bool = False

    def add(self, x: float, t: int) -> None:
        if x != x:
            self.bad = True
            return
        vals = self.vals
        lo = 0
        hi = len(vals)
        while lo < hi:  # the first place holding a value above x: after any equal one (arrival order)
            mid = (lo + hi) // 2
            if vals[mid] > x:
                hi = mid
            else:
                lo = mid + 1
        i = lo
        vals.insert(i, x)
        self.at.insert(i, t)
        if len(vals) > self.m:
            vals.pop()
            self.at.pop()
        if len(vals) == self.m:
            self.cut = vals[self.m - 1]

    def first_at(self, x: float) -> int:
        """The position of the earliest arrival of ``x`` (a value held)."""
        vals = self.vals
        for i in range(len(vals)):
            if vals[i] == x:
                return self.at[i]
        return -1


def seed_cut(seeds: list[float], m: int) -> float:
    """An upper bound on the m-th smallest of a set of scenario P&Ls, given
    ``seeds``: the P&Ls of some of its scenarios (distinct ones). With at least
    m of them, their largest is one (m scenarios lie at or below it), so a
    scenario above it cannot be among the m smallest, nor tie with them; else
    (or with a NaN among them) there is no bound: inf."""
    if len(seeds) < m or m <= 0:
        return math.inf
    top = -math.inf
    for x in seeds:
        if x != x:
            return math.inf
        if x > top:
            top = x
    return top


def contrib_text(contrib: dict[str, float]) -> str:
    """``var_contrib`` as logged: "SYM=value" by symbol, ``repr`` floats (exact)."""
    if len(contrib) == 1:  # the common book of one position: no sort, no join (per bar)
        for sym, v in contrib.items():
            return sym + "=" + repr(v)  # mypyc makes an f-string a str.format call: slower
    parts: list[str] = []
    for sym in sorted(contrib):
        parts.append(sym + "=" + repr(contrib[sym]))
    return ";".join(parts)


def contrib_of(text: str) -> dict[str, float]:
    """The logged ``var_contrib`` text back as a dict."""
    out: dict[str, float] = {}
    for part in text.split(";"):
        if "=" in part:
            sym, _, v = part.rpartition("=")
            out[sym] = float(v)
    return out


def holding_id(h: PutHolding) -> int:
    return h.option_id


def toward_zero(have: float, target: float) -> float:
    """The nearest target to ``target`` that does not add exposure to ``have``."""
    if have == 0.0 or (target != 0.0 and (target > 0.0) != (have > 0.0)):
        return 0.0
    return target if abs(target) <= abs(have) else have


def shrink(have: float, move: float) -> float:
    """The part of ``move`` that takes ``have`` toward zero, and no further."""
    if have > 0.0:
        return max(-have, min(0.0, move))
    if have < 0.0:
        return min(-have, max(0.0, move))
    return 0.0


def good_price(x: float) -> bool:
    return x > 0.0 and not math.isinf(x)  # NaN fails ``x > 0``


class LowTail:
    """The smallest values of a moving window, ascending (with ``negate``,
    the largest, kept as their negatives: the i-th largest is ``get(i)``).
    Historical VaR and CVaR read only a window's lowest 5%, so only they are
    kept in order, in a buffer of at most ``keep``: a bar's new value goes in
    only below the buffer's largest, and an evicted value comes out only
    from inside it (a shift of at most ``keep``), where a sorted window moved
    half its length twice a bar. The buffer always holds the ``n`` smallest
    values of the window (all of them while ``complete``); when a read needs
    more than it holds, ``ready`` selects them afresh from the window. Equal
    values are the same bits (returns are q - 1.0, never -0.0), so which copy
    a tie keeps is moot; the figures read from it are those of a full sort.
    No NaN: callers keep NaN out."""

    def __init__(self, keep: int, negate: bool) -> None:
        self.keep: i64 = keep
        self.vals: vec[float] = vec[float]([0.0] * keep)
        self.n: i64 = 0
        self.complete: bool = True  # the buffer holds every value of the window
        self.negate = negate

    def get(self, i: i64) -> float:
        v: float = self.vals[i]
        return -v if self.negate else v

    def push(self, x: float, old: float, evicted: bool) -> None:
        """The window moved: ``old`` out (if ``evicted``), then ``x`` in."""
        if self.negate:
            x = -x
            old = -old
        n: i64 = self.n
        top = self.vals[n - 1] if n > 0 else 0.0
        if evicted and n > 0 and not (old > top):  # else not held: above the largest held
            self.remove(old)
        if self.complete or n >= self.keep or (n > 0 and x < top):  # else not among the smallest
            self.add(x)

    def remove(self, v: float) -> None:
        n: i64 = self.n
        vals = self.vals
        if n == 0 or v > vals[n - 1]:
            return  # not in the buffer (above its largest)
        i: i64 = 0
        hi: i64 = n
        while i < hi:  # bisect_left: a copy of v
            mid: i64 = (i + hi) >> 1
            if vals[mid] < v:
                i = mid + 1
            else:
                hi = mid
        while i < n - 1:
            vals[i] = vals[i + 1]
            i += 1
        self.n = n - 1

    def add(self, x: float) -> None:
        n: i64 = self.n
        vals = self.vals
        if n == self.keep:  # full: x goes in only below the largest, which leaves
            if not (x < vals[n - 1]):
                self.complete = False
                return
            n -= 1
            self.complete = False
        elif not self.complete and not (n > 0 and x < vals[n - 1]):
            return  # above the buffer's largest: not among the n + 1 smallest for sure
        j: i64 = 0
        hi: i64 = n
        while j < hi:  # bisect_right
            mid: i64 = (j + hi) >> 1
            if x < vals[mid]:
                hi = mid
            else:
                j = mid + 1
        k: i64 = n
        while k > j:
            vals[k] = vals[k - 1]
            k -= 1
        vals[j] = x
        self.n = n + 1

    def ready(self, need: i64, win: RollingWindow) -> None:
        """Hold at least ``need`` values (or all of the window): else select
        the ``keep`` smallest from ``win`` afresh."""
        if self.complete or self.n >= need:
            return
        self.n = 0
        self.complete = True
        vals = win.values
        cnt: i64 = win.count
        i: i64 = 0
        while i < cnt:
            self.add(-vals[i] if self.negate else vals[i])
            i += 1

    def reset(self, win: RollingWindow) -> None:
        """Select afresh from ``win`` (a new window to follow)."""
        self.n = 0
        self.complete = False
        self.ready(1, win)


def low_quantile(low: LowTail, n: i64, q: float) -> float:
    """``quantile`` of the window's ``n`` values from its smallest (ascending, ``low`` ready for it)."""
    pos = q * float(n - 1)
    lo: i64 = int(math.floor(pos))
    hi: i64 = min(lo + 1, n - 1)
    a = low.get(lo)
    return a + (low.get(hi) - a) * (pos - float(lo))


def low_hist_var(low: LowTail, win: RollingWindow, confidence: float, h: float) -> float:
    """``hist_var`` of the window ``win`` read from its smallest values."""
    n: i64 = win.count
    if n < 2:
        return 0.0
    low.ready(quantile_need(n, 1.0 - confidence), win)
    v = -low_quantile(low, n, 1.0 - confidence) * math.sqrt(h)
    return v if v > 0.0 else 0.0


def low_hist_cvar(low: LowTail, win: RollingWindow, confidence: float, h: float) -> float:
    """``hist_cvar`` of the window ``win`` read from its smallest values: the
    values at or below the quantile are a prefix of them, ascending, unless
    every one held is; then the rest at or below it are ties of the largest
    held (when it is the quantile itself: counted in the window and added one
    by one, as the sorted loop adds them), or the window is sorted (NaN: the
    caller's full path)."""
    n: i64 = win.count
    if n < 2:
        return 0.0
    low.ready(quantile_need(n, 1.0 - confidence), win)
    q = low_quantile(low, n, 1.0 - confidence)
    total = 0.0
    k: i64 = 0
    m: i64 = low.n
    while k < m:
        x = low.get(k)
        if x > q:
            break
        total += x
        k += 1
    if k == m and m < n:
        if low.get(m - 1) != q:
            return math.nan  # values above the last held may be at or below q: the caller sorts
        ties: i64 = 0
        vals = win.values
        i: i64 = 0
        while i < n:
            if vals[i] == q:
                ties += 1
            i += 1
        i = 0
        while i < m:
            if low.get(i) == q:
                ties -= 1
            i += 1
        while ties > 0:
            total += q
            k += 1
            ties -= 1
    v = -(total / float(k)) * math.sqrt(h)
    return v if v > 0.0 else 0.0


def quantile_need(n: i64, q: float) -> i64:
    """How many of the smallest of ``n`` values ``quantile(q)`` reads."""
    lo: i64 = int(math.floor(q * float(n - 1)))
    return min(lo + 1, n - 1) + 1


