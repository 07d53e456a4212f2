namespace RegPS.Engine.Optimization;

/// <summary>Why a minimisation stopped.</summary>
internal enum StopReason
{
    GradientTolerance,
    FunctionTolerance,
    ParameterTolerance,
    MaxEvaluations,
    LineSearchFailed,
}

internal sealed record LbfgsResult(double[] X, double F, int Evaluations, int Iterations, StopReason Reason);

/// <summary>
/// Limited-memory BFGS (Nocedal &amp; Wright, Numerical Optimization, alg. 7.4) with a strong-Wolfe line search
/// (alg. 3.5/3.6, cubic interpolation in the zoom phase), using scipy L-BFGS-B's stopping rules without bounds:
/// stop when max|g| &lt;= gtol, when (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1) &lt;= ftol, or when the number of function
/// evaluations reaches maxEvaluations (scipy's maxfun, which DIPY's level_iters sets). Line-search constants are
/// L-BFGS-B's (c1 = 1e-3, c2 = 0.9, at most 20 evaluations per search). A non-finite value is treated as "too far" and
/// the step is shortened. Deterministic: no randomness, serial arithmetic.
/// </summary>
internal static class Lbfgs
{
    /// <param name="fg">Computes f(x) and writes the gradient into the second argument.</param>
    /// <param name="xtol">Also stop when an iteration moves no parameter by more than this (0: never; scipy has no such rule).</param>
    public static LbfgsResult Minimize(Func<double[], double[], double> fg, double[] x0, int maxEvaluations, double gtol, double ftol,
        int memory, CancellationToken cancellationToken, double xtol = 0)
    {
        int n = x0.Length;
        var x = (double[])x0.Clone();
        var g = new double[n];
        int evals = 0;
        double Eval(double[] at, double[] grad)
        {
            cancellationToken.ThrowIfCancellationRequested();
            evals++;
            double v = fg(at, grad);
            if (!double.IsFinite(v)) { Array.Clear(grad); return double.PositiveInfinity; }
            return v;
        }

        double f = Eval(x, g);
        if (!double.IsFinite(f)) return new LbfgsResult(x, f, evals, 0, StopReason.LineSearchFailed);
        var s = new double[memory][];
        var y = new double[memory][];
        var rho = new double[memory];
        var alpha = new double[memory];
        int stored = 0, head = 0;
        var d = new double[n];
        var xNew = new double[n];
        var gNew = new double[n];
        int iter = 0;
        while (true)
        {
            if (MaxAbs(g) <= gtol) return new LbfgsResult(x, f, evals, iter, StopReason.GradientTolerance);
            if (evals >= maxEvaluations) return new LbfgsResult(x, f, evals, iter, StopReason.MaxEvaluations);

            // Two-loop recursion: d = -H g.
            for (int i = 0; i < n; i++) d[i] = -g[i];
            for (int k = 0; k < stored; k++)
            {
                int idx = (head - 1 - k + memory) % memory;
                alpha[idx] = rho[idx] * Dot(s[idx], d);
                Axpy(-alpha[idx], y[idx], d);
            }
            if (stored > 0)
            {
                int last = (head - 1 + memory) % memory;
                double gamma = Dot(s[last], y[last]) / Dot(y[last], y[last]);
                for (int i = 0; i < n; i++) d[i] *= gamma;
            }
            for (int k = stored - 1; k >= 0; k--)
            {
                int idx = (head - 1 - k + memory) % memory;
                double beta = rho[idx] * Dot(y[idx], d);
                Axpy(alpha[idx] - beta, s[idx], d);
            }
            double dg = Dot(d, g);
            if (!(dg < 0))
            {
                // Not a descent direction: restart from steepest descent.
                stored = 0; head = 0;
                for (int i = 0; i < n; i++) d[i] = -g[i];
                dg = Dot(d, g);
            }
            double step = stored == 0 ? Math.Min(1.0, 1.0 / Math.Sqrt(Dot(d, d))) : 1.0;
            int budget = Math.Min(20, maxEvaluations - evals);
            var (ok, fNew, _) = LineSearch(Eval, x, f, g, d, dg, step, xNew, gNew, budget);
            if (!ok)
            {
                if (!(fNew < f))
                {
                    if (stored > 0 && evals < maxEvaluations)
                    {
                        // The quasi-Newton model misled the search: drop it and retry along -g.
                        stored = 0; head = 0;
                        continue;
                    }
                    return new LbfgsResult(x, f, evals, iter, evals >= maxEvaluations ? StopReason.MaxEvaluations : StopReason.LineSearchFailed);
                }
                // The search ran out but found a lower point: take it and restart the memory.
                iter++;
                double fPrevIt = f;
                Array.Copy(xNew, x, n); Array.Copy(gNew, g, n); f = fNew;
                stored = 0; head = 0;
                if ((fPrevIt - f) / Math.Max(Math.Max(Math.Abs(fPrevIt), Math.Abs(f)), 1) <= ftol)
                    return new LbfgsResult(x, f, evals, iter, StopReason.FunctionTolerance);
                continue;
            }
            iter++;
            var sk = s[head] ??= new double[n];
            var yk = y[head] ??= new double[n];
            double moved = 0;
            for (int i = 0; i < n; i++) { sk[i] = xNew[i] - x[i]; yk[i] = gNew[i] - g[i]; moved = Math.Max(moved, Math.Abs(sk[i])); }
            double sy = Dot(sk, yk);
            double fOld = f;
            Array.Copy(xNew, x, n); Array.Copy(gNew, g, n); f = fNew;
            if (sy > 2.2e-16 * Dot(yk, yk))
            {
                rho[head] = 1 / sy;
                head = (head + 1) % memory;
                stored = Math.Min(stored + 1, memory);
            }
            if ((fOld - f) / Math.Max(Math.Max(Math.Abs(fOld), Math.Abs(f)), 1) <= ftol)
                return new LbfgsResult(x, f, evals, iter, StopReason.FunctionTolerance);
            if (moved <= xtol)
                return new LbfgsResult(x, f, evals, iter, StopReason.ParameterTolerance);
        }
    }

    /// <summary>
    /// Strong-Wolfe line search along d from x (f0, slope dg0 &lt; 0). On success xOut/gOut hold the accepted point.
    /// On failure they hold the best point seen (fBest &lt; f0 means it is still an improvement).
    /// </summary>
    private static (bool Ok, double F, double Step) LineSearch(Func<double[], double[], double> eval, double[] x, double f0, double[] g0,
        double[] d, double dg0, double step, double[] xOut, double[] gOut, int budget)
    {
        const double c1 = 1e-3, c2 = 0.9;
        int n = x.Length;
        var gTry = new double[n];
        var xTry = new double[n];
        double bestF = f0;
        bool haveBest = false;
        double aPrev = 0, fPrev = f0, dPrev = dg0;
        double a = step;
        double aMax = 1e10;
        int used = 0;

        (double F, double D) Try(double at)
        {
            for (int i = 0; i < n; i++) xTry[i] = x[i] + at * d[i];
            double fv = eval(xTry, gTry);
            used++;
            double dv = double.IsFinite(fv) ? Dot(gTry, d) : double.NaN;
            if (fv < bestF)
            {
                bestF = fv; haveBest = true;
                Array.Copy(xTry, xOut, n); Array.Copy(gTry, gOut, n);
            }
            return (fv, dv);
        }

        while (used < budget)
        {
            var (fa, da) = Try(a);
            if (!double.IsFinite(fa) || fa > f0 + c1 * a * dg0 || (used > 1 && fa >= fPrev))
                return Zoom(aPrev, fPrev, dPrev, a, fa, da);
            if (Math.Abs(da) <= -c2 * dg0) return Accept(a, fa);
            if (da >= 0) return Zoom(a, fa, da, aPrev, fPrev, dPrev);
            aPrev = a; fPrev = fa; dPrev = da;
            a = Math.Min(a * 4, aMax);
        }
        return (false, haveBest ? bestF : f0, 0);

        (bool, double, double) Accept(double at, double fa)
        {
            Array.Copy(xTry, xOut, n); Array.Copy(gTry, gOut, n);
            return (true, fa, at);
        }

        (bool, double, double) Zoom(double lo, double fLo, double dLo, double hi, double fHi, double dHi)
        {
            while (used < budget)
            {
                double aj = Interpolate(lo, fLo, dLo, hi, fHi, dHi);
                var (fj, dj) = Try(aj);
                if (!double.IsFinite(fj) || fj > f0 + c1 * aj * dg0 || fj >= fLo)
                {
                    hi = aj; fHi = fj; dHi = dj;
                }
                else
                {
                    if (Math.Abs(dj) <= -c2 * dg0) return Accept(aj, fj);
                    if (dj * (hi - lo) >= 0) { hi = lo; fHi = fLo; dHi = dLo; }
                    lo = aj; fLo = fj; dLo = dj;
                }
                if (Math.Abs(hi - lo) <= 1e-12 * Math.Max(1, Math.Abs(lo))) break;
            }
            // Sufficient decrease without curvature is still a usable step (the kinks of linear interpolation).
            if (haveBest && bestF < f0) return (true, bestF, lo);
            return (false, f0, 0);
        }
    }

    /// <summary>Minimiser of the cubic through two points with slopes, safeguarded into the inner 80% of the bracket.</summary>
    private static double Interpolate(double a, double fa, double da, double b, double fb, double db)
    {
        double lo = Math.Min(a, b), hi = Math.Max(a, b), width = hi - lo;
        double result = double.NaN;
        if (double.IsFinite(fb) && double.IsFinite(db))
        {
            double d1 = da + db - 3 * (fa - fb) / (a - b);
            double disc = d1 * d1 - da * db;
            if (disc >= 0)
            {
                double d2 = Math.Sign(b - a) * Math.Sqrt(disc);
                result = b - (b - a) * (db + d2 - d1) / (db - da + 2 * d2);
            }
        }
        if (!double.IsFinite(result) || result < lo + 0.1 * width || result > hi - 0.1 * width) result = 0.5 * (a + b);
        return result;
    }

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    private static void Axpy(double a, double[] x, double[] y)
    {
        for (int i = 0; i < x.Length; i++) y[i] += a * x[i];
    }

    private static double MaxAbs(double[] a)
    {
        double m = 0;
        foreach (var v in a) m = Math.Max(m, Math.Abs(v));
        return m;
    }
}
