using System.Runtime.Intrinsics;
using RegPS.Engine.Fields;
using RegPS.Engine.Metrics;
using RegPS.Engine.Simd;

namespace RegPS.Engine.Tests.Simd;

/// <summary>
/// The kernels' formulas written once over <see cref="IDoubleLanes{TSelf}"/>: on one double, on 2 lanes (Vector128)
/// and on 4 lanes (Vector256) they must give the bits of the same arithmetic written out in plain doubles here.
/// (build.ps1 Test runs this class again with AVX2 off, where Vector256 is done in software.)
/// </summary>
public class VectorKernelLanesTests
{
    private enum Kind { Textured, FlatI, FlatJ, LowVariance, Same, Doubled, Inverted }

    /// <summary>One voxel's inputs: window sums of a real window of cnt float values, the centre values, float differences.</summary>
    private sealed record CcCase(double[] S, double FI, double FJ, double[] DI, double[] DJ, Kind Kind);

    private static List<CcCase> CcCases(Random rnd, int cnt, bool twoD, int n)
    {
        var kinds = Enum.GetValues<Kind>();
        var list = new List<CcCase>();
        for (int c = 0; c < n; c++)
        {
            var kind = kinds[c % kinds.Length];
            var x = new float[cnt]; var y = new float[cnt];
            for (int t = 0; t < cnt; t++)
            {
                float a = (float)rnd.NextDouble(), b = (float)rnd.NextDouble();
                (x[t], y[t]) = kind switch
                {
                    Kind.FlatI => (0.3f, b),                                               // B about 0: no step
                    Kind.FlatJ => (a, 0.6f + 1e-6f * (t % 2)),                             // C below the flat limit, not 0
                    Kind.LowVariance => (0.5f + 1e-3f * a, 0.4f + 2e-3f * b),              // BC below 1e-5
                    Kind.Same => (a, a),                                                   // cc exactly 1: not counted
                    Kind.Doubled => (a, 2 * a),                                            // cc exactly 1
                    Kind.Inverted => (a, 1 - a),                                           // cc about 1, either side
                    _ => (a, 0.5f * a + 0.5f * b),
                };
            }
            var s = new double[5];
            foreach (var t in Enumerable.Range(0, cnt))
            {
                double p = x[t], q = y[t];
                s[0] += p; s[1] += q; s[2] += p * p; s[3] += q * q; s[4] += p * q;
            }
            double[] Diffs() => [(float)rnd.NextDouble() - (float)rnd.NextDouble(), (float)rnd.NextDouble() - (float)rnd.NextDouble(),
                twoD ? 0 : (float)rnd.NextDouble() - (float)rnd.NextDouble()];
            list.Add(new CcCase(s, x[cnt / 2], y[cnt / 2], Diffs(), Diffs(), kind));
        }
        return list;
    }

    /// <summary>The CC step of one voxel in plain doubles (the metric's scalar loop as it was before the formula was shared).</summary>
    private static (bool Ok, double[] U, double[] V, bool Counted, double Cc) CcReference(CcCase c, double cnt, double[] w, bool twoD)
    {
        double sI = c.S[0], sJ = c.S[1];
        double A = c.S[4] - sI * sJ / cnt;
        double B = c.S[2] - sI * sI / cnt;
        double C = c.S[3] - sJ * sJ / cnt;
        if (B <= 1e-9 * cnt || C <= 1e-9 * cnt) return (false, [], [], false, 0);
        double Ii = c.FI - sI / cnt, Ji = c.FJ - sJ / cnt;
        double BC = B * C;
        double cc = A * A / BC;
        bool counted = BC > 1e-5 && cc < 1;
        double f = 2.0 * A / BC;
        double tf = f * (Ji - A / B * Ii);
        double tb = f * (Ii - A / C * Ji);
        double gi0 = 0.5 * c.DI[0], gi1 = 0.5 * c.DI[1], gi2 = twoD ? 0 : 0.5 * c.DI[2];
        double gj0 = 0.5 * c.DJ[0], gj1 = 0.5 * c.DJ[1], gj2 = twoD ? 0 : 0.5 * c.DJ[2];
        double[] u = [-tf * (w[0] * gi0 + w[3] * gi1 + w[6] * gi2), -tf * (w[1] * gi0 + w[4] * gi1 + w[7] * gi2), twoD ? 0 : -tf * (w[2] * gi0 + w[5] * gi1 + w[8] * gi2)];
        double[] v = [-tb * (w[0] * gj0 + w[3] * gj1 + w[6] * gj2), -tb * (w[1] * gj0 + w[4] * gj1 + w[7] * gj2), twoD ? 0 : -tb * (w[2] * gj0 + w[5] * gj1 + w[8] * gj2)];
        return (true, u, v, counted, cc);
    }

    /// <summary>Outputs of <see cref="CrossCorrelationMetric.CcFormula{T}"/> for one lane: u, v, ok, count, cc.</summary>
    private readonly record struct LaneOut(double[] U, double[] V, long Ok, long Count, double Cc);

    private static LaneOut[] RunFormula<T>(CrossCorrelationMetric.CcFormula<T> f, List<CcCase> cases, int width, bool twoD,
        Func<double[], T> pack, Func<T, int, double> lane) where T : struct, IDoubleLanes<T>
    {
        var res = new LaneOut[cases.Count];
        for (int g = 0; g < cases.Count; g += width)
        {
            T P(Func<CcCase, double> sel) => pack(Enumerable.Range(g, width).Select(l => sel(cases[l])).ToArray());
            f.Step(P(c => c.S[0]), P(c => c.S[1]), P(c => c.S[2]), P(c => c.S[3]), P(c => c.S[4]), P(c => c.FI), P(c => c.FJ),
                P(c => c.DI[0]), P(c => c.DI[1]), P(c => c.DI[2]), P(c => c.DJ[0]), P(c => c.DJ[1]), P(c => c.DJ[2]), twoD,
                out var ux, out var uy, out var uz, out var vx, out var vy, out var vz, out var ok, out var count, out var cc);
            for (int l = 0; l < width; l++)
                res[g + l] = new LaneOut([lane(ux, l), lane(uy, l), lane(uz, l)], [lane(vx, l), lane(vy, l), lane(vz, l)],
                    BitConverter.DoubleToInt64Bits(lane(ok, l)), BitConverter.DoubleToInt64Bits(lane(count, l)), lane(cc, l));
        }
        return res;
    }

    [Theory]
    [InlineData(false, 125)]   // 3D, r = 2
    [InlineData(true, 81)]     // 2D, r = 4
    public void CcFormulaGivesTheSameBitsOnOneTwoAndFourLanes(bool twoD, int cnt)
    {
        var rnd = new Random(twoD ? 2 : 3);
        var cases = CcCases(rnd, cnt, twoD, 4 * 70);
        var w = Enumerable.Range(0, 9).Select(_ => rnd.NextDouble() * 2 - 1).ToArray();
        var one = RunFormula(new CrossCorrelationMetric.CcFormula<ScalarLane>(cnt, w), cases, 1, twoD, a => new ScalarLane(a[0]), (x, _) => x.Value);
        var two = RunFormula(new CrossCorrelationMetric.CcFormula<Lanes128>(cnt, w), cases, 2, twoD,
            a => new Lanes128(Vector128.Create(a)), (x, l) => x.Value.GetElement(l));
        var four = RunFormula(new CrossCorrelationMetric.CcFormula<Lanes256>(cnt, w), cases, 4, twoD,
            a => new Lanes256(Vector256.Create(a)), (x, l) => x.Value.GetElement(l));

        static long Bits(double d) => BitConverter.DoubleToInt64Bits(d);
        int flat = 0, lowBc = 0, ccAtLeastOne = 0, counted = 0;
        for (int c = 0; c < cases.Count; c++)
        {
            var r = CcReference(cases[c], cnt, w, twoD);
            foreach (var (name, got) in new[] { ("1 lane", one[c]), ("2 lanes", two[c]), ("4 lanes", four[c]) })
            {
                string at = $"{name}, case {c} ({cases[c].Kind})";
                Assert.True(got.Ok == (r.Ok ? -1L : 0L), $"{at}: flat-window mask");
                Assert.True(got.Count == (r.Counted ? -1L : 0L), $"{at}: energy mask");
                if (!r.Ok) continue;
                Assert.True(Bits(r.Cc) == Bits(got.Cc), $"{at}: cc {got.Cc} instead of {r.Cc}");
                for (int m = 0; m < 3; m++)
                {
                    Assert.True(Bits(r.U[m]) == Bits(got.U[m]), $"{at}: u[{m}] {got.U[m]} instead of {r.U[m]}");
                    Assert.True(Bits(r.V[m]) == Bits(got.V[m]), $"{at}: v[{m}] {got.V[m]} instead of {r.V[m]}");
                }
            }
            if (!r.Ok) flat++;
            else if (r.Counted) counted++;
            else if (r.Cc >= 1) ccAtLeastOne++;
            else lowBc++;
        }
        // every branch of the formula was taken
        Assert.True(flat >= 20 && lowBc >= 20 && ccAtLeastOne >= 40 && counted >= 40, $"flat {flat}, BC <= 1e-5 {lowBc}, cc >= 1 {ccAtLeastOne}, counted {counted}");
    }

    /// <summary>The inversion's update of one voxel in plain doubles (FieldInversion's scalar loop as it was before the formula was shared).</summary>
    private static double[] UpdateReference(float[] q, float[] p, double[] w, double maxlen, double eps)
    {
        double qx = q[0], qy = q[1], qz = q[2];
        double vx = w[0] * qx + w[1] * qy + w[2] * qz, vy = w[3] * qx + w[4] * qy + w[5] * qz, vz = w[6] * qx + w[7] * qy + w[8] * qz;
        double nrm = Math.Sqrt(vx * vx + vy * vy + vz * vz);
        double sc = nrm > maxlen ? eps * maxlen / nrm : eps;
        return [p[0] - sc * qx, p[1] - sc * qy, p[2] - sc * qz];
    }

    private static double Norm(float[] q, double[] w)
    {
        double qx = q[0], qy = q[1], qz = q[2];
        double vx = w[0] * qx + w[1] * qy + w[2] * qz, vy = w[3] * qx + w[4] * qy + w[5] * qz, vz = w[6] * qx + w[7] * qy + w[8] * qz;
        return Math.Sqrt(vx * vx + vy * vy + vz * vz);
    }

    private static double[][] RunUpdate<T>(FieldInversion.UpdateFormula<T> f, float[][] q, float[][] p, int width,
        Func<double[], T> pack, Func<T, int, double> lane) where T : struct, IDoubleLanes<T>
    {
        var res = new double[q.Length][];
        for (int g = 0; g < q.Length; g += width)
        {
            T P(float[][] a, int m) => pack(Enumerable.Range(g, width).Select(l => (double)a[l][m]).ToArray());
            f.Update(P(q, 0), P(q, 1), P(q, 2), P(p, 0), P(p, 1), P(p, 2), out var ox, out var oy, out var oz);
            for (int l = 0; l < width; l++) res[g + l] = [lane(ox, l), lane(oy, l), lane(oz, l)];
        }
        return res;
    }

    [Theory]
    [InlineData(0.75)]
    [InlineData(0.5)]
    public void InversionUpdateGivesTheSameBitsOnOneTwoAndFourLanes(double eps)
    {
        var rnd = new Random((int)(eps * 100));
        // an oblique grid: W (world to grid) with unequal spacings
        var w = new[] { 0.5, 0.1, 0.0, -0.08, 0.4, 0.05, 0.02, 0.0, 0.33 };
        int n = 4 * 200;
        var q = new float[n][]; var p = new float[n][];
        // maxlen is the norm of q0 exactly (same arithmetic as the update), so voxels with q0 sit right at the cap
        float[] q0 = [1.25f, -0.75f, 0.5f];
        double maxlen = Norm(q0, w);
        for (int v = 0; v < n; v++)
        {
            // groups of 4 with no, some or all residuals above maxlen, and ones right at maxlen (s = eps there)
            int kind = (v / 4) % 4;
            double scale = kind switch { 0 => 0.5, 1 => 2 + 4 * rnd.NextDouble(), _ => rnd.NextDouble() < 0.5 ? 0.5 : 6 };
            q[v] = [(float)(scale * (rnd.NextDouble() - 0.5)), (float)(scale * (rnd.NextDouble() - 0.5)), (float)(scale * (rnd.NextDouble() - 0.5))];
            if (kind == 3 && v % 4 == 0) q[v] = q0;   // |W q| = maxlen exactly: not above
            p[v] = [(float)(rnd.NextDouble() - 0.5), (float)(rnd.NextDouble() - 0.5), (float)(rnd.NextDouble() - 0.5)];
        }
        var one = RunUpdate(new FieldInversion.UpdateFormula<ScalarLane>(w, maxlen, eps), q, p, 1, a => new ScalarLane(a[0]), (x, _) => x.Value);
        var two = RunUpdate(new FieldInversion.UpdateFormula<Lanes128>(w, maxlen, eps), q, p, 2,
            a => new Lanes128(Vector128.Create(a)), (x, l) => x.Value.GetElement(l));
        var four = RunUpdate(new FieldInversion.UpdateFormula<Lanes256>(w, maxlen, eps), q, p, 4,
            a => new Lanes256(Vector256.Create(a)), (x, l) => x.Value.GetElement(l));
        int capped = 0, atMax = 0;
        for (int v = 0; v < n; v++)
        {
            var r = UpdateReference(q[v], p[v], w, maxlen, eps);
            double nrm = Norm(q[v], w);
            if (nrm > maxlen) capped++;
            if (nrm == maxlen) atMax++;
            foreach (var (name, got) in new[] { ("1 lane", one[v]), ("2 lanes", two[v]), ("4 lanes", four[v]) })
                for (int m = 0; m < 3; m++)
                    Assert.True(BitConverter.DoubleToInt64Bits(r[m]) == BitConverter.DoubleToInt64Bits(got[m]), $"{name}, voxel {v}, component {m}: {got[m]} instead of {r[m]}");
        }
        Assert.True(capped > n / 4 && capped < 3 * n / 4 && atMax > 0, $"capped {capped} of {n}, at maxlen {atMax}");
    }
}
