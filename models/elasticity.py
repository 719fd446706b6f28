"""Price elasticity of demand per product, pooled toward its category (issue #7).

Use::

    from graph.adapters import load_dataset
    from models.elasticity import ElasticityModel
    cat = load_dataset("retail_price", "data/demo/retail_price")
    model = ElasticityModel().fit(cat.sales, cat.products, cat.offers)
    est = model.elasticity_("bed1")        # ElasticityEstimate: beta, se, low, high, source, flags
    model.predict_quantity("bed1", 42.0, date="2018-09-01")   # (mean, low, high) units per period
    model.prior_for("Retail > garden tools")                    # for a product without history
    model.summary()                                             # one row per product

The demand model (one joint fit over all products)::

    log E[q_it] = a_i + b_i (log p_it - m_i) + g (log c_it - k_i) + s(t)

``q`` units sold in a period (a sales row), ``p`` own price, ``m_i`` the product's mean log
price (so ``a_i`` is log demand at its geometric-mean price ``ref_price`` and is nearly
uncorrelated with ``b_i``), ``c`` the mean competitor price at that date and ``k_i`` its
product mean (``g`` is a cross-price elasticity shared by all products: one product's
competitor prices rarely vary enough to estimate its own), ``s`` time effects shared by all
products, effect-coded. ``time_effects="period"`` (default) gives every sales date its own
effect: season, market growth and market-wide shocks are all absorbed, so ``b_i`` comes
from a product's price moves relative to what all products did that month (on retail_price,
month-of-year effects from 20 months mix the season with the marketplace's growth, and the
growth then passes for price response: see ``bench/elasticity.py``). A future date takes the
latest period's level. ``"month"`` uses month-of-year effects instead (a season that
extrapolates to any date; better when the history covers several stable years).

After pooling, each product's level ``a_i`` is re-estimated from its sales rows weighted by
recency (``level_half_life`` periods), holding its pooled ``beta`` and the shared effects
fixed, so ``ref_quantity`` reflects current demand rather than the history's average.

Zero sales. The fit is a Poisson GLM with log link (IRLS), not least squares on ``log q``:
``log 0`` is undefined, dropping zero rows selects on the outcome, and ``log1p(q)`` compresses
small counts so its slope is not the elasticity (it is biased toward 0 exactly where counts
are small). The Poisson estimator only needs the mean to be right (it stays consistent when
counts are overdispersed), and the standard errors are scaled by the Pearson dispersion
``phi`` (quasi-Poisson), so overdispersed data gets honest, wider intervals.

Pooling (empirical Bayes). A product's own slope ``b_i`` with standard error ``se_i`` is
combined with its category's mean elasticity ``mu_c``::

    beta_i = w b_i + (1 - w) mu_c,  w = V / (V + se_i^2),  V = (tau^2 + var(mu_c)) / prior_strength

``tau^2`` is the between-product variance inside categories (DerSimonian-Laird method of
moments, floored at ``min_tau^2``); category means are themselves shrunk toward the global
mean by the between-category variance. A product whose prices barely moved has a huge
``se_i`` and so takes its category's value; one with rich variation keeps its own.
``prior_strength=0`` turns pooling off (own estimates only), larger values pool harder.
``tau`` is plugged in as if known; with a few dozen products it is itself uncertain, so
prior-only intervals run somewhat narrow (in ``bench/elasticity.py``'s simulation, 90%
intervals of prior-only products cover 75-80%; those of products with own variation, 90%).
``source`` says where ``beta`` came from: ``product`` (own data weight w >= 0.8), ``pooled``,
``category`` (prior only: no usable own variation), ``global`` (prior only and its category
has no estimates either; with no estimates anywhere the fixed ``prior_beta``/``prior_sd``),
``none`` (zero sales everywhere: no demand model at all).

Flags: ``no_price_variation`` (log-price sd < ``min_price_sd``), ``single_month`` (one date),
``few_periods`` (< ``min_periods`` dates), ``zero_sales``, ``positive_elasticity`` (beta > 0:
implausible for most goods, usually promotions timed with demand), ``wide_interval``.

Caveat: historical prices were not randomised. When a merchant cut prices because demand was
already rising, or raised them in peak months, the slope absorbs that; the season and
competitor controls remove only part of it. Treat estimates as evidence, not experiments.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

Source = Literal["product", "pooled", "category", "global", "none"]
_OWN_WEIGHT_FOR_PRODUCT = 0.8  # beta mostly from the product's own data -> source "product"
_WIDE_SE = 1.0  # an elasticity known no better than +-1.6 (90%) is flagged wide_interval


class NoDemandModel(ValueError):
    """The product has no demand model (e.g. it never sold): nothing to predict from."""


@dataclass(frozen=True)
class ElasticityEstimate:
    """One product's price elasticity and its baseline demand curve.

    Demand per period (``period_days`` long) at price ``p``, at the current market level
    (the latest period; an average month with ``time_effects="month"``), with competitor
    prices at their usual level and the product's recency-weighted demand level::

        q(p) = ref_quantity * (p / ref_price) ** beta

    ``beta`` is ``None`` only for ``source == "none"``. ``ref_quantity`` is ``None`` for a
    category/global prior made for a product without sales history (``prior_for``).
    """

    product_id: str | None
    category: str | None
    beta: float | None
    se: float | None
    low: float | None  # central interval of beta at `level`
    high: float | None
    n_obs: int
    price_range: tuple[float, float] | None  # (min, max) observed own price
    source: Source
    flags: tuple[str, ...] = ()
    own_beta: float | None = None  # the product's unpooled estimate, when it has one
    own_se: float | None = None
    weight: float = 0.0  # share of the product's own data in beta (0 = prior only)
    ref_price: float | None = None  # geometric mean of observed prices
    ref_quantity: float | None = None  # expected units per period at ref_price
    ref_log_se: float | None = None  # standard error of log(ref_quantity)
    period_days: float = 30.4375
    level: float = 0.9

    @property
    def has_demand(self) -> bool:
        return self.beta is not None and self.ref_quantity is not None

    def quantity(self, price: float | np.ndarray, level: float | None = None,
                 log_shift: float = 0.0, log_var: float = 0.0) -> tuple:
        """Expected units per period at ``price``: (point, low, high).

        The interval is for the *expected* demand (uncertainty of ``ref_quantity`` and
        ``beta``), not for one period's realised sales. ``log_shift`` adds a known effect
        (season, competitor prices) on the log scale, ``log_var`` its variance. Scalars
        in, floats out; arrays in, arrays out.
        """
        if not self.has_demand:
            raise NoDemandModel(f"product {self.product_id!r}: no demand model "
                                f"(source={self.source}, flags={list(self.flags)})")
        p = _positive_prices(price)
        x = np.log(p) - math.log(self.ref_price)
        mean_log = math.log(self.ref_quantity) + self.beta * x + log_shift
        sd = np.sqrt(self.ref_log_se ** 2 + (x * self.se) ** 2 + log_var)
        z = _z(self.level if level is None else level)
        out = (np.exp(mean_log), np.exp(mean_log - z * sd), np.exp(mean_log + z * sd))
        return tuple(float(v) for v in out) if np.ndim(price) == 0 else out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["flags"] = list(self.flags)
        d["price_range"] = list(self.price_range) if self.price_range else None
        return d


@dataclass
class _Fit:
    """What the joint GLM learned (internal)."""

    alpha: np.ndarray  # per product
    beta: np.ndarray  # per product (0 where no slope)
    cov: np.ndarray  # per product 2x2 covariance of (alpha, beta), dispersion included
    has_slope: np.ndarray  # bool per product
    shared_eta: np.ndarray  # per fitted row: time + competitor effects on log demand
    time_effect: dict  # month number or period Timestamp -> effect on log demand
    time_var: dict  # the same keys -> variance of the effect (dispersion included)
    competitor_coef: float | None
    competitor_se: float | None
    competitor_ref: dict[str, float]  # product -> its mean log competitor price
    phi: float
    iterations: int
    deviance: float


@dataclass
class ElasticityModel:
    """Per-product price elasticities from sales history, pooled toward the category.

    See the module docstring for the model. Parameters only are set here; ``fit`` learns.
    """

    prior_strength: float = 1.0  # multiplies the prior's precision; 0 = no pooling
    level: float = 0.9  # interval level for beta and quantities
    min_price_sd: float = 0.005  # sd of log price below which a product has no own slope
    min_periods: int = 3  # fewer distinct dates: prior only
    min_tau: float = 0.1  # floor of the between-product sd (tau = 0 would erase products)
    prior_beta: float = -2.0  # used only when no product anywhere has an own estimate
    prior_sd: float = 1.0  # (retail meta-analyses put typical elasticities near -2 to -3)
    # Shared time effects: "month" = month-of-year season (extrapolates to any date);
    # "period" = one effect per sales date (absorbs trend and market-wide shocks, so the
    # elasticity comes from moves relative to other products; a future date takes the
    # latest period's level); "none".
    time_effects: Literal["month", "period", "none"] = "period"
    competitors: bool = True  # log mean competitor price, when offers are given
    # Each product's demand level (ref_quantity) is re-estimated after pooling with sales
    # rows weighted 0.5 ** (age / level_half_life periods), so it follows recent sales
    # (products rise and fade); the elasticity itself uses every row alike. None = no decay.
    level_half_life: float | None = 6.0
    max_iter: int = 100
    tol: float = 1e-9

    # ------------------------------------------------------------------ fitting

    def fit(self, sales: pd.DataFrame, products: pd.DataFrame | None = None,
            offers: pd.DataFrame | None = None) -> ElasticityModel:
        """Learn every product's elasticity from ``sales`` (product_id, date, price, quantity).

        ``products`` maps product_id -> category_path (products absent from it, or without a
        category, are pooled toward the global mean). ``offers`` (product_id, competitor,
        price, observed_at) gives competitor prices by date. Raises ValueError naming the
        first bad row and field.
        """
        if not 0 < self.level < 1:
            raise ValueError(f"level must be in (0, 1), got {self.level}")
        if self.prior_strength < 0:
            raise ValueError(f"prior_strength must be >= 0, got {self.prior_strength}")
        if self.time_effects not in ("month", "period", "none"):
            raise ValueError(f"time_effects must be 'month', 'period' or 'none', "
                             f"got {self.time_effects!r}")
        data = _clean_sales(sales)
        categories = _categories(products)
        data["category"] = data["product_id"].map(categories)
        data["time_key"] = (data["ts"].dt.month if self.time_effects == "month"
                            else data["ts"] if self.time_effects == "period" else 0)
        data["log_comp"] = _competitor_log_price(offers, data) if (
            self.competitors and offers is not None and len(offers)) else np.nan

        self.period_days_ = _period_days(data["ts"])
        if self.level_half_life is not None:
            if not self.level_half_life > 0:
                raise ValueError(f"level_half_life must be > 0 periods, "
                                 f"got {self.level_half_life}")
            age = (data["ts"].max() - data["ts"]).dt.days.to_numpy() / self.period_days_
            data["weight"] = 0.5 ** (age / self.level_half_life)
        else:
            data["weight"] = 1.0
        pids = list(dict.fromkeys(data["product_id"]))
        g = data.groupby("product_id", sort=False)
        info = pd.DataFrame({
            "n_obs": g.size(), "n_dates": g["ts"].nunique(), "total": g["quantity"].sum(),
            "pmin": g["price"].min(), "pmax": g["price"].max(),
            "log_sd": g["log_price"].std(ddof=0), "m": g["log_price"].mean(),
        }).reindex(pids)
        info["category"] = [categories.get(p) for p in pids]
        info["sold"] = info["total"] > 0
        info["slope"] = (info["sold"] & (info["log_sd"] >= self.min_price_sd)
                         & (info["n_dates"] >= self.min_periods))

        fitted = data[data["product_id"].map(info["sold"])].reset_index(drop=True)
        self.fit_ = _fit_glm(fitted, info[info["sold"]], self) if len(fitted) else None
        self.estimates_ = self._pool(info, fitted)
        self.categories_ = categories
        self.n_products_ = len(pids)
        return self

    def _pool(self, info: pd.DataFrame, fitted: pd.DataFrame) -> dict[str, ElasticityEstimate]:
        fit = self.fit_
        sold = info.index[info["sold"]]
        pos = {p: i for i, p in enumerate(sold)}
        own = {p: (fit.beta[pos[p]], math.sqrt(fit.cov[pos[p]][1, 1]))
               for p in sold if fit.has_slope[pos[p]]}
        prior = _Prior.learn(
            {p: b for p, (b, _) in own.items()}, {p: s ** 2 for p, (_, s) in own.items()},
            {p: info.at[p, "category"] for p in own}, self)
        self.prior_ = prior
        z = _z(self.level)
        pooled = {pid: self._pooled_beta(pid, info.at[pid, "category"], own, prior)
                  for pid in sold}
        levels = self._levels(fitted, info, pooled)
        ref_shift, ref_var = self._time_shift(None)
        out: dict[str, ElasticityEstimate] = {}
        for pid, row in info.iterrows():
            flags = []
            if row["log_sd"] < self.min_price_sd:
                flags.append("no_price_variation")
            if row["n_dates"] == 1:
                flags.append("single_month")
            elif row["n_dates"] < self.min_periods:
                flags.append("few_periods")
            common = dict(product_id=pid, category=row["category"], n_obs=int(row["n_obs"]),
                          price_range=(float(row["pmin"]), float(row["pmax"])),
                          period_days=self.period_days_, level=self.level)
            if not row["sold"]:
                out[pid] = ElasticityEstimate(beta=None, se=None, low=None, high=None,
                                              source="none", flags=tuple(flags + ["zero_sales"]),
                                              **common)
                continue
            beta, se, w, source = pooled[pid]
            own_beta, own_se = own.get(pid, (None, None))
            alpha, alpha_var = levels[pid]
            if beta > 0:
                flags.append("positive_elasticity")
            if se > _WIDE_SE:
                flags.append("wide_interval")
            out[pid] = ElasticityEstimate(
                beta=float(beta), se=float(se), low=float(beta - z * se),
                high=float(beta + z * se), source=source, flags=tuple(flags),
                own_beta=None if own_beta is None else float(own_beta),
                own_se=None if own_se is None else float(own_se), weight=float(w),
                ref_price=float(math.exp(row["m"])),
                ref_quantity=float(math.exp(alpha + ref_shift)),
                ref_log_se=float(math.sqrt(alpha_var + ref_var)), **common)
        return out

    def _pooled_beta(self, pid: str, category: str | None, own: dict,
                     prior: _Prior) -> tuple[float, float, float, Source]:
        """(beta, se, weight of own data, source): own estimate combined with the prior."""
        m0, v0, prior_source = prior.for_category(category)
        if pid not in own:  # nothing of its own (even with pooling off): the prior
            return m0, math.sqrt(v0), 0.0, prior_source
        b, s = own[pid]
        if self.prior_strength == 0:
            return b, s, 1.0, "product"
        v0 = v0 / self.prior_strength
        w = v0 / (v0 + s * s)
        source: Source = "product" if w >= _OWN_WEIGHT_FOR_PRODUCT else "pooled"
        return w * b + (1 - w) * m0, math.sqrt(1 / (1 / (s * s) + 1 / v0)), w, source

    def _levels(self, fitted: pd.DataFrame, info: pd.DataFrame,
                pooled: dict) -> dict[str, tuple[float, float]]:
        """Each product's log demand level at its reference price, given its pooled beta and
        the shared effects, from recency-weighted rows: (level, variance).

        The Poisson score for an intercept alone has the closed form
        ``a = log(sum w y) - log(sum w exp(offset))``; its variance is the sandwich
        ``phi * sum w^2 mu / (sum w mu)^2`` (the weights are not frequency weights).
        """
        if not len(fitted):
            return {}
        pid = fitted["product_id"].to_numpy()
        beta = np.array([pooled[p][0] for p in pid])
        x = fitted["log_price"].to_numpy() - info["m"].reindex(pid).to_numpy()
        offset = beta * x + self.fit_.shared_eta
        w = fitted["weight"].to_numpy(float)
        y = fitted["quantity"].to_numpy(float)
        frame = pd.DataFrame({"pid": pid, "wy": w * y, "wm": w * np.exp(offset),
                              "w2m": w * w * np.exp(offset)})
        sums = frame.groupby("pid", sort=False).sum()
        alpha = np.log(sums["wy"]) - np.log(sums["wm"])
        mu_w, mu_w2 = sums["wm"] * np.exp(alpha), sums["w2m"] * np.exp(alpha)
        var = self.fit_.phi * mu_w2 / mu_w ** 2
        return {p: (float(alpha[p]), float(var[p])) for p in sums.index}

    # ------------------------------------------------------------------ queries

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimates_"):
            raise RuntimeError("ElasticityModel is not fitted: call fit(sales, products, offers)")

    def elasticity_(self, product_id: str) -> ElasticityEstimate:
        """The product's estimate. KeyError for a product without sales history (use
        ``prior_for(category_path)`` for those)."""
        self._check_fitted()
        try:
            return self.estimates_[product_id]
        except KeyError:
            raise KeyError(f"product {product_id!r} has no sales history in the fitted data; "
                           f"use prior_for(category_path) for its category prior") from None

    def prior_for(self, category_path: str | None) -> ElasticityEstimate:
        """Category (or global) elasticity prior for a product without sales history.

        It has no baseline demand (``ref_quantity`` is None): the elasticity alone says how
        demand moves in relative terms, not how many units sell.
        """
        self._check_fitted()
        m0, v0, source = self.prior_.for_category(category_path)
        se, z = math.sqrt(v0), _z(self.level)
        flags = ("no_sales_history",) + (("wide_interval",) if se > _WIDE_SE else ())
        return ElasticityEstimate(product_id=None, category=category_path, beta=m0, se=se,
                                  low=m0 - z * se, high=m0 + z * se, n_obs=0, price_range=None,
                                  source=source, flags=flags, period_days=self.period_days_,
                                  level=self.level)

    def predict_quantity(self, product_id: str, price: float | np.ndarray,
                         date: str | pd.Timestamp | None = None,
                         competitor_price: float | None = None, level: float | None = None,
                         kind: Literal["mean", "predictive"] = "mean") -> tuple:
        """Units per period at ``price``: (point, low, high).

        ``date`` adds its time effect (``time_effects="month"``: its month's season, an
        average month when None or unseen; ``"period"``: the level of the latest period on
        or before it, the latest level when None or later);
        ``competitor_price`` (mean competitor price) shifts demand by the cross elasticity
        (their usual level when None). ``kind="mean"`` gives the interval of the expected
        demand; ``"predictive"`` the interval of one period's realised units (overdispersed
        Poisson around it, by simulation with a fixed seed). NoDemandModel for products
        that never sold.
        """
        est = self.elasticity_(product_id)
        level = self.level if level is None else level
        shift, shift_var = self._shift(product_id, date, competitor_price)
        if kind == "mean":
            return est.quantity(price, level, log_shift=shift, log_var=shift_var)
        if kind != "predictive":
            raise ValueError(f"kind must be 'mean' or 'predictive', got {kind!r}")
        return self._simulate(est, price, shift, shift_var, level)

    def _time_shift(self, date) -> tuple[float, float]:
        """(effect, variance) on log demand of ``date``'s time effect, relative to the
        level built into ``ref_quantity``; with ``date=None``, that level itself (an average
        month for "month", the latest period for "period")."""
        fit = self.fit_
        if fit is None or not fit.time_effect:
            return 0.0, 0.0
        eff, var = fit.time_effect, fit.time_var
        if self.time_effects == "month":
            if date is None:
                return 0.0, 0.0
            month = pd.Timestamp(date).month
            return eff.get(month, 0.0), var.get(month, 0.0)
        keys = list(eff)  # sorted periods
        latest = keys[-1]
        if date is None:
            return eff[latest], var[latest]
        ts = pd.Timestamp(date)
        # the latest period on or before the date (a future date: the latest level)
        key = next((k for k in reversed(keys) if k <= ts), keys[0])
        if key == latest:
            return 0.0, 0.0
        return eff[key] - eff[latest], var[key] + var[latest]

    def _shift(self, product_id: str, date, competitor_price) -> tuple[float, float]:
        fit = self.fit_
        shift, var = self._time_shift(date) if date is not None else (0.0, 0.0)
        if competitor_price is not None and fit is not None and fit.competitor_coef is not None:
            cp = float(competitor_price)
            if not math.isfinite(cp) or cp <= 0:
                raise ValueError(f"competitor_price must be a positive number, "
                                 f"got {competitor_price!r}")
            ref = self.competitor_ref_.get(product_id)
            if ref is not None:
                d = math.log(cp) - ref
                shift += fit.competitor_coef * d
                var += (fit.competitor_se * d) ** 2
        return shift, var

    def _simulate(self, est: ElasticityEstimate, price, shift: float, shift_var: float,
                  level: float, draws: int = 4000) -> tuple:
        if not est.has_demand:
            raise NoDemandModel(f"product {est.product_id!r}: no demand model")
        p = _positive_prices(price)
        x = np.log(np.atleast_1d(p)) - math.log(est.ref_price)
        mean_log = math.log(est.ref_quantity) + est.beta * x + shift
        sd = np.sqrt(est.ref_log_se ** 2 + (x * est.se) ** 2 + shift_var)
        rng = np.random.default_rng(0)  # fixed: the same question gets the same interval
        mu = np.exp(mean_log + sd * rng.standard_normal((draws, 1)))
        phi = self.fit_.phi
        if phi > 1.0001:  # negative binomial with variance phi * mu (quasi-Poisson)
            r = mu / (phi - 1)
            units = rng.negative_binomial(r, r / (r + mu)).astype(float)
        else:
            units = rng.poisson(mu).astype(float)
        a = (1 - level) / 2
        low, high = np.quantile(units, [a, 1 - a], axis=0)
        point = np.exp(mean_log)
        # integer quantiles of a small count can miss the point; the interval must hold it
        low, high = np.minimum(low, point), np.maximum(high, point)
        if np.ndim(price) == 0:
            return float(point[0]), float(low[0]), float(high[0])
        return point, low, high

    def summary(self) -> pd.DataFrame:
        """One row per product: the estimate's fields (flags joined by commas)."""
        self._check_fitted()
        rows = []
        for est in self.estimates_.values():
            d = est.to_dict()
            d["flags"] = ",".join(est.flags)
            d["price_min"], d["price_max"] = est.price_range or (None, None)
            del d["price_range"]
            rows.append(d)
        return pd.DataFrame(rows)

    @property
    def competitor_ref_(self) -> dict[str, float]:
        """Each product's mean log competitor price in the fitted data."""
        return self.fit_.competitor_ref if self.fit_ is not None else {}


# ---------------------------------------------------------------------- pooling prior

@dataclass
class _Prior:
    """Category means and variances for empirical-Bayes pooling (internal)."""

    tau2: float  # between products inside a category
    category_mean: dict = field(default_factory=dict)  # category -> (mean, var of the mean)
    global_mean: float = -2.0
    global_var: float = 1.0  # prior variance of a product whose category has no estimates
    has_estimates: bool = False

    @classmethod
    def learn(cls, b: dict, v: dict, cat: dict, model: ElasticityModel) -> _Prior:
        floor = model.min_tau ** 2
        if not b:
            return cls(tau2=model.prior_sd ** 2, global_mean=model.prior_beta,
                       global_var=model.prior_sd ** 2)
        pids = list(b)
        est = np.array([b[p] for p in pids])
        var = np.array([v[p] for p in pids])
        groups = np.array([str(cat[p]) if cat[p] is not None else "\0none" for p in pids])
        tau2 = max(floor, _dl_tau2(est, var, groups))
        if np.isnan(tau2) or len(set(groups)) == len(groups):  # no category has two products
            tau2 = max(floor, _dl_tau2(est, var, np.zeros(len(est))))
        # random-effects category means
        means = {}
        for gname in dict.fromkeys(groups):
            m = groups == gname
            wts = 1 / (var[m] + tau2)
            means[gname] = (float(np.sum(wts * est[m]) / np.sum(wts)), float(1 / np.sum(wts)))
        cm = np.array([mv[0] for mv in means.values()])
        cv = np.array([mv[1] for mv in means.values()])
        if len(cm) >= 2:
            tau_c2 = max(floor, _dl_tau2(cm, cv, np.zeros(len(cm))))
        else:
            tau_c2 = tau2  # one category: assume categories differ as much as products
        wg = 1 / (cv + tau_c2)
        gmean = float(np.sum(wg * cm) / np.sum(wg))
        gvar = float(1 / np.sum(wg))
        shrunk = {}
        for gname, (m, mv) in means.items():
            if gname == "\0none":  # products without a category pool toward the global mean
                continue
            post_var = 1 / (1 / mv + 1 / tau_c2)
            post_mean = post_var * (m / mv + gmean / tau_c2)
            # the global mean's own uncertainty passes through with the weight it gets
            shrunk[str(gname)] = (float(post_mean),
                                  float(post_var + (post_var / tau_c2) ** 2 * gvar))
        return cls(tau2=float(tau2), category_mean=shrunk, global_mean=gmean,
                   global_var=gvar + tau_c2, has_estimates=True)

    def for_category(self, category: str | None) -> tuple[float, float, Source]:
        """(prior mean, prior variance for one product, source) of a product in ``category``."""
        if not self.has_estimates:
            return self.global_mean, self.global_var, "global"
        if category is not None and category in self.category_mean:
            m, mv = self.category_mean[category]
            return m, self.tau2 + mv, "category"
        return self.global_mean, self.tau2 + self.global_var, "global"


def _dl_tau2(est: np.ndarray, var: np.ndarray, groups: np.ndarray) -> float:
    """DerSimonian-Laird between-unit variance with one mean per group (NaN if df <= 0)."""
    w = 1 / var
    q = 0.0
    denom = 0.0
    ngroups = 0
    for gname in np.unique(groups):
        m = groups == gname
        s1, s2 = w[m].sum(), (w[m] ** 2).sum()
        mean = np.sum(w[m] * est[m]) / s1
        q += float(np.sum(w[m] * (est[m] - mean) ** 2))
        denom += s1 - s2 / s1
        ngroups += 1
    df = len(est) - ngroups
    if df <= 0 or denom <= 0:
        return float("nan")
    return max(0.0, (q - df) / denom)


# ---------------------------------------------------------------------- joint Poisson GLM

def _fit_glm(data: pd.DataFrame, info: pd.DataFrame, model: ElasticityModel) -> _Fit:
    """Poisson IRLS with per-product (intercept, slope) blocks and a few shared columns.

    The normal equations are solved through the Schur complement of the block-diagonal
    product part, so cost grows linearly with the number of products (no dense n x 2P matrix).
    """
    pids = list(info.index)
    idx = data["product_id"].map({p: i for i, p in enumerate(pids)}).to_numpy()
    n_prod = len(pids)
    y = data["quantity"].to_numpy(float)
    slope = info["slope"].to_numpy()
    x = data["log_price"].to_numpy() - info["m"].to_numpy()[idx]
    x = np.where(slope[idx], x, 0.0)  # no own slope: its column is zero and ridge keeps b = 0

    shared, names = [], []
    keys = sorted(data["time_key"].unique())
    use_time = model.time_effects != "none" and len(keys) >= 2
    if use_time:
        tcol = data["time_key"].to_numpy()
        for key in keys[:-1]:  # effect coding: the effects average to zero over keys seen
            shared.append((tcol == key).astype(float) - (tcol == keys[-1]).astype(float))
            names.append(("time", key))
    comp_ref: dict[str, float] = {}
    lc = data["log_comp"].to_numpy(float)
    if np.isfinite(lc).any():
        ref = pd.Series(lc).groupby(idx).mean()
        comp_ref = {pids[i]: float(v) for i, v in ref.items() if np.isfinite(v)}
        centred = lc - ref.reindex(idx).to_numpy()
        centred = np.where(np.isfinite(centred), centred, 0.0)  # missing: the usual level
        if np.std(centred) > 1e-6:
            shared.append(centred)
            names.append(("competitor", None))
    s = np.column_stack(shared) if shared else np.zeros((len(y), 0))
    k = s.shape[1]
    ridge = 1e-8

    # start: each product's mean, everything else 0
    mean_q = np.bincount(idx, weights=y, minlength=n_prod) / np.bincount(idx, minlength=n_prod)
    theta = np.column_stack([np.log(mean_q), np.zeros(n_prod)])
    gamma = np.zeros(k)

    def linpred(th, ga):
        return th[idx, 0] + th[idx, 1] * x + s @ ga

    def deviance(mu):
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(y > 0, y * np.log(y / mu), 0.0)
        return float(2 * np.sum(term - (y - mu)))

    eta = linpred(theta, gamma)
    dev = deviance(np.exp(eta))
    it = 0
    for it in range(1, model.max_iter + 1):  # noqa: B007 (the count is reported)
        mu = np.exp(eta)
        z = eta + (y - mu) / mu
        a_inv, b_blk, s_inv, r_i, r_s = _normal_equations(idx, n_prod, mu, x, s, z, slope, ridge)
        new_gamma = s_inv @ (r_s - np.einsum("pik,pij,pj->k", b_blk, a_inv, r_i)) if k else gamma
        rhs = r_i - np.einsum("pik,k->pi", b_blk, new_gamma)
        new_theta = np.einsum("pij,pj->pi", a_inv, rhs)
        step = 1.0
        while True:  # step-halving keeps the deviance from going up
            th = theta + step * (new_theta - theta)
            ga = gamma + step * (new_gamma - gamma)
            new_eta = np.clip(linpred(th, ga), -30, 30)
            new_dev = deviance(np.exp(new_eta))
            if new_dev <= dev + 1e-10 * abs(dev) or step < 1e-4:
                break
            step /= 2
        theta, gamma, eta = th, ga, new_eta
        done = abs(dev - new_dev) <= model.tol * (abs(new_dev) + 0.1)
        dev = new_dev
        if done:
            break

    mu = np.exp(eta)
    a_inv, b_blk, s_inv, _, _ = _normal_equations(idx, n_prod, mu, x, s, eta, slope, ridge)
    n_par = n_prod + int(slope.sum()) + k
    dof = len(y) - n_par
    pearson = float(np.sum((y - mu) ** 2 / mu))
    phi = max(1.0, pearson / dof) if dof > 0 else 1.0
    # Var(theta_i) = A_i^-1 + A_i^-1 B_i S^-1 B_i' A_i^-1, all times the dispersion
    if k:
        ab = np.einsum("pij,pjk->pik", a_inv, b_blk)
        cov = a_inv + np.einsum("pik,kl,pjl->pij", ab, s_inv, ab)
    else:
        cov = a_inv
    cov = cov * phi
    time_effect, time_var = {}, {}
    if use_time:
        t = len(keys) - 1  # effects = T @ gamma[:t] with T = [I; -1'] (effect coding)
        tmat = np.vstack([np.eye(t), -np.ones((1, t))])
        eff = tmat @ gamma[:t]
        var = np.einsum("ij,jk,ik->i", tmat, s_inv[:t, :t] * phi, tmat)
        time_effect = {key: float(e) for key, e in zip(keys, eff)}
        time_var = {key: float(v) for key, v in zip(keys, var)}
    comp_coef = comp_se = None
    if names and names[-1][0] == "competitor":
        comp_coef, comp_se = float(gamma[-1]), float(math.sqrt(s_inv[-1, -1] * phi))
    return _Fit(alpha=theta[:, 0], beta=np.where(slope, theta[:, 1], 0.0), cov=cov,
                has_slope=slope, shared_eta=s @ gamma, time_effect=time_effect, time_var=time_var,
                competitor_coef=comp_coef,
                competitor_se=comp_se, competitor_ref=comp_ref, phi=phi, iterations=it,
                deviance=dev)


def _normal_equations(idx, n_prod, w, x, s, z, slope, ridge):
    """Blocks of X'WX and X'Wz for columns (intercept_i, slope_i | shared)."""
    def per(v):
        return np.bincount(idx, weights=v, minlength=n_prod)

    k = s.shape[1]
    a = np.empty((n_prod, 2, 2))
    a[:, 0, 0] = per(w) + ridge
    a[:, 0, 1] = a[:, 1, 0] = per(w * x)
    # a product without a slope gets a unit diagonal so its b stays exactly 0
    a[:, 1, 1] = per(w * x * x) + np.where(slope, ridge, 1.0)
    det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] ** 2
    a_inv = np.empty_like(a)
    a_inv[:, 0, 0] = a[:, 1, 1] / det
    a_inv[:, 1, 1] = a[:, 0, 0] / det
    a_inv[:, 0, 1] = a_inv[:, 1, 0] = -a[:, 0, 1] / det
    r_i = np.column_stack([per(w * z), per(w * x * z)])
    b_blk = np.zeros((n_prod, 2, k))
    for j in range(k):
        b_blk[:, 0, j] = per(w * s[:, j])
        b_blk[:, 1, j] = per(w * x * s[:, j])
    if k:
        c = (s * w[:, None]).T @ s + ridge * np.eye(k)
        schur = c - np.einsum("pik,pij,pjl->kl", b_blk, a_inv, b_blk)
        s_inv = np.linalg.inv(schur)
        r_s = s.T @ (w * z)
    else:
        s_inv = np.zeros((0, 0))
        r_s = np.zeros(0)
    return a_inv, b_blk, s_inv, r_i, r_s


# ---------------------------------------------------------------------- input handling

def _clean_sales(sales: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(sales, pd.DataFrame):
        raise TypeError(f"sales must be a DataFrame, got {type(sales).__name__}")
    missing = [c for c in ("product_id", "date", "price", "quantity") if c not in sales]
    if missing:
        raise ValueError(f"sales: missing column(s) {missing}")
    if not len(sales):
        raise ValueError("sales: no rows to fit")
    out = pd.DataFrame({"product_id": sales["product_id"].astype("object")})
    bad = out["product_id"].isna() | (out["product_id"].astype(str).str.strip() == "")
    _reject(bad, sales, "product_id", "is empty")
    out["product_id"] = out["product_id"].astype(str)
    for col in ("price", "quantity"):
        out[col] = pd.to_numeric(sales[col], errors="coerce")
        _reject(~np.isfinite(out[col]), sales, col, "is not a finite number")
    _reject(out["price"] <= 0, sales, "price", "must be > 0")
    _reject(out["quantity"] < 0, sales, "quantity", "must be >= 0")
    out["ts"] = _parse_dates(sales["date"])
    _reject(out["ts"].isna(), sales, "date", "is not a date")
    out["log_price"] = np.log(out["price"])
    return out.reset_index(drop=True)


def _reject(bad: pd.Series, frame: pd.DataFrame, column: str, reason: str) -> None:
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        value = frame[column].iloc[i]
        value = value.item() if isinstance(value, np.generic) else value
        raise ValueError(f"sales row {i + 1} (product_id={frame['product_id'].iloc[i]!r}): "
                         f"{column} {value!r} {reason} "
                         f"({int(bad.sum())} such row(s))")


def _categories(products: pd.DataFrame | None) -> dict[str, str | None]:
    if products is None or not len(products):
        return {}
    if "product_id" not in products or "category_path" not in products:
        raise ValueError("products: needs columns product_id and category_path")
    cats = products["category_path"].astype("object")
    cats = cats.where(cats.notna() & (cats.astype(str).str.strip() != ""), None)
    return dict(zip(products["product_id"].astype(str), cats))


def _competitor_log_price(offers: pd.DataFrame, data: pd.DataFrame) -> np.ndarray:
    """log of the mean competitor price for each sales row's (product, date); NaN if none."""
    missing = [c for c in ("product_id", "price", "observed_at") if c not in offers]
    if missing:
        raise ValueError(f"offers: missing column(s) {missing}")
    price = pd.to_numeric(offers["price"], errors="coerce")
    ts = _parse_dates(offers["observed_at"])
    ok = price.gt(0) & ts.notna()  # undated or non-positive offers cannot be matched to a date
    mean = (pd.DataFrame({"product_id": offers["product_id"].astype(str)[ok],
                          "ts": ts[ok], "p": price[ok]})
            .groupby(["product_id", "ts"])["p"].mean())
    key = pd.MultiIndex.from_arrays([data["product_id"], data["ts"]])
    return np.log(mean.reindex(key).to_numpy(float))


def _parse_dates(values: pd.Series) -> pd.Series:
    """ISO dates (the canonical form) fast; anything else element by element; NaT if none."""
    out = pd.to_datetime(values, format="ISO8601", errors="coerce")
    retry = out.isna() & values.notna()
    if retry.any():
        out[retry] = pd.to_datetime(values[retry].astype(str), format="mixed", errors="coerce")
    return out


def _period_days(ts: pd.Series) -> float:
    """Length of one sales row's period: the median gap between consecutive dates."""
    dates = np.sort(ts.unique())
    if len(dates) < 2:
        return 30.4375
    gaps = np.diff(dates).astype("timedelta64[s]").astype(float) / 86400
    return float(np.median(gaps))


def _positive_prices(price) -> np.ndarray:
    p = np.asarray(price, dtype=float)
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise ValueError(f"price must be positive and finite, got {price!r}")
    return p


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(stats.norm.ppf(0.5 + level / 2))


# ---------------------------------------------------------------------- simulation

def simulate_sales(n_categories: int = 4, products_per_category: int = 8, n_periods: int = 24,
                   *, seed: int = 0, base_units: tuple[float, float] = (15, 60),
                   price_sd: float = 0.2, low_variation_share: float = 0.25,
                   fixed_price_share: float = 0.125, within_sd: float = 0.3,
                   season_amplitude: float = 0.2, cross_elasticity: float = 0.5,
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Monthly sales with known elasticities, for validating the model.

    Category mean elasticities are spread over [-3, -1.2]; each product's true elasticity
    is its category's plus N(0, within_sd). Prices vary exogenously (log sd ``price_sd``)
    except for a ``low_variation_share`` of products (log sd 1%) and a ``fixed_price_share``
    (never changed). Demand also follows a sine season and the competitors' mean price.
    Units are Poisson. Returns (sales, products, offers, truth) in the canonical columns;
    ``truth`` has product_id, category_path, beta, kind ("varied" / "low" / "fixed"),
    ref_price, base_units.
    """
    rng = np.random.default_rng(seed)
    cat_means = np.linspace(-3.0, -1.2, n_categories)
    dates = pd.date_range("2022-01-01", periods=n_periods, freq="MS")
    season = season_amplitude * np.sin(2 * np.pi * (dates.month.to_numpy() - 1) / 12)
    sales, offers, truth = [], [], []
    n_low = round(products_per_category * low_variation_share)
    n_fixed = round(products_per_category * fixed_price_share)
    for c in range(n_categories):
        cat = f"Sim > category {c}"
        for j in range(products_per_category):
            pid = f"c{c}p{j}"
            beta = cat_means[c] + within_sd * rng.standard_normal()
            kind = "fixed" if j < n_fixed else "low" if j < n_fixed + n_low else "varied"
            sd = {"fixed": 0.0, "low": 0.01, "varied": price_sd}[kind]
            ref = float(np.exp(rng.uniform(np.log(10), np.log(200))))
            log_p = np.log(ref) + sd * rng.standard_normal(n_periods)
            comp = np.log(ref) + 0.1 * rng.standard_normal(n_periods)
            q0 = rng.uniform(*base_units)
            mu = q0 * np.exp(beta * (log_p - np.log(ref)) + season
                             + cross_elasticity * (comp - np.log(ref)))
            q = rng.poisson(mu)
            ds = dates.strftime("%Y-%m-%d")
            sales.append(pd.DataFrame({"product_id": pid, "date": ds, "price": np.exp(log_p),
                                       "quantity": q.astype(float), "source": "simulated"}))
            for k in (1, 2):  # two competitors straddling the mean competitor price
                offers.append(pd.DataFrame({
                    "product_id": pid, "competitor": f"competitor_{k}",
                    "price": np.exp(comp) * (1 + (0.05 if k == 1 else -0.05)),
                    "currency": "XXX", "observed_at": ds, "url": None, "shipping": None,
                    "source": "simulated"}))
            truth.append({"product_id": pid, "category_path": cat, "beta": float(beta),
                          "kind": kind, "ref_price": ref, "base_units": float(q0)})
    truth_df = pd.DataFrame(truth)
    products = pd.DataFrame({"product_id": truth_df["product_id"],
                             "title": truth_df["product_id"],
                             "category_path": truth_df["category_path"]})
    return (pd.concat(sales, ignore_index=True), products,
            pd.concat(offers, ignore_index=True), truth_df)
