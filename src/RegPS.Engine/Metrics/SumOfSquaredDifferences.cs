using System.Runtime.CompilerServices;
using RegPS.Engine.Fields;
using RegPS.Engine.Parallel;

namespace RegPS.Engine.Metrics;

/// <summary>
/// DIPY's SSDMetric with step_type 'demons' (for images of the same contrast). With delta = I - J (static minus
/// moving) the forward step is u = delta grad I / (|grad I|^2 + delta^2 / sx2) and the backward step
/// v = -delta grad J / (|grad J|^2 + delta^2 / sx2), zero where the denominator is below 1e-9, with
/// sx2 = sum(spacing^2)/dim of the current level; both are then smoothed with a Gaussian of `smooth` voxels
/// (reflect). Energy = sum delta^2. Gradients are numpy.gradient's (central inside, one-sided on the faces) taken
/// to world axes with W^T. One pass per voxel, row partials for the energy combined in row order.
/// </summary>
internal sealed class SumOfSquaredDifferencesMetric : ISynStepMetric
{
    private readonly double _smooth, _truncate;
    private readonly double[] _rowEnergy;

    public SumOfSquaredDifferencesMetric(double smooth, int capacityRows, double truncate = Filters.Gaussian.Truncate)
    {
        _smooth = smooth;
        _truncate = truncate;
        _rowEnergy = new double[capacityRows];
    }

    public double ComputeSteps(float[] I, float[] J, FieldGrid g, float[] u, float[] v, int maxDegree)
    {
        int nx = g.NX, ny = g.NY, nz = g.NZ;
        bool twoD = g.TwoD;
        var w = g.W;
        var sp = g.Grid.Spacing;
        double sx2 = 0;
        foreach (var x in sp) sx2 += x * x;
        sx2 /= sp.Length;
        var energy = _rowEnergy;
        SliceIterator.For(g.Rows, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (row) =>
        {
            int j = row % ny, k = row / ny;
            double e = 0;
            for (int i = 0; i < nx; i++)
            {
                int o = row * nx + i, o3 = 3 * o;
                double delta = (double)I[o] - J[o];
                e += delta * delta;
                Grad(I, o, i, j, k, nx, ny, nz, twoD, out double a0, out double a1, out double a2);
                Grad(J, o, i, j, k, nx, ny, nz, twoD, out double b0, out double b1, out double b2);
                double gi0 = w[0] * a0 + w[3] * a1 + w[6] * a2, gi1 = w[1] * a0 + w[4] * a1 + w[7] * a2, gi2 = w[2] * a0 + w[5] * a1 + w[8] * a2;
                double gj0 = w[0] * b0 + w[3] * b1 + w[6] * b2, gj1 = w[1] * b0 + w[4] * b1 + w[7] * b2, gj2 = w[2] * b0 + w[5] * b1 + w[8] * b2;
                double d2 = delta * delta / sx2;
                double den = gi0 * gi0 + gi1 * gi1 + gi2 * gi2 + d2;
                if (den < 1e-9) { u[o3] = u[o3 + 1] = u[o3 + 2] = 0; }
                else { double s = delta / den; u[o3] = (float)(s * gi0); u[o3 + 1] = (float)(s * gi1); u[o3 + 2] = (float)(s * gi2); }
                den = gj0 * gj0 + gj1 * gj1 + gj2 * gj2 + d2;
                if (den < 1e-9) { v[o3] = v[o3 + 1] = v[o3 + 2] = 0; }
                else { double s = -delta / den; v[o3] = (float)(s * gj0); v[o3 + 1] = (float)(s * gj1); v[o3 + 2] = (float)(s * gj2); }
            }
            energy[row] = e;
        });
        double total = 0;
        for (int q = 0; q < g.Rows; q++) total += energy[q];
        var sig = new[] { _smooth, _smooth, twoD ? 0 : _smooth };
        FieldSmoothing.Smooth(new[] { u, v }, 3, nx, ny, nz, sig, maxDegree, _truncate);
        return total;
    }

    /// <summary>numpy.gradient in voxel units: central differences inside, one-sided on the faces, 0 on a 1-voxel axis.</summary>
    internal static void Grad(float[] f, int o, int i, int j, int k, int nx, int ny, int nz, bool twoD, out double g0, out double g1, out double g2)
    {
        g0 = D(f, o, i, nx, 1);
        g1 = D(f, o, j, ny, nx);
        g2 = twoD ? 0 : D(f, o, k, nz, nx * ny);
    }

    private static double D(float[] f, int o, int p, int n, int stride)
    {
        if (n == 1) return 0;
        if (p == 0) return (double)f[o + stride] - f[o];
        if (p == n - 1) return (double)f[o] - f[o - stride];
        return 0.5 * ((double)f[o + stride] - f[o - stride]);
    }
}
