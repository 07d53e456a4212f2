using System.Runtime.Intrinsics;
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
        double[] u = [-tf * (w[0] * gi0 + w[3] * gi1 + w[6] * gi2), -tf * (w[1] * gi0 + w[4] * gi1 + w[7] * gi2), -tf * (w[2] * gi0 + w[5] * gi1 + w[8] * gi2)];
        double[] v = [-tb * (w[0] * gj0 + w[3] * gj1 + w[6] * gj2), -tb * (w[1] * gj0 + w[4] * gj1 + w[7] * gj2), -tb * (w[2] * gj0 + w[5] * gj1 + w[8] * gj2)];
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
}
