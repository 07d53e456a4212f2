using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RegPS.Engine.Images;
using RegPS.Engine.Parallel;
using RegPS.Engine.Resampling;
using static RegPS.Engine.Simd.XyzLanes;

namespace RegPS.Engine.Fields;

/// <summary>Resampling a coarse level's field onto the next finer level (DIPY's resample_displacement_field).</summary>
internal static class FieldExpansion
{
    /// <summary>
    /// Resamples a field to a finer grid: fine voxel x reads the coarse field at x * factors (voxel units), trilinear with
    /// zero padding (DIPY's resample_displacement_field). Values are world mm, so they are not rescaled.
    /// </summary>
    public static void Expand(float[] coarse, FieldGrid cg, FieldGrid fg, double[] factors, float[] fine, int maxDegree)
    {
        // InterpolateZeroPadded at (i f0, j f1, k f2), with what depends only on the column (x corners and weights)
        // computed once and what depends only on the row (y/z corners and weights) once per row. The same products
        // and sums in the same order: a zero-weight corner adds a signed zero to a sum that started at +0, which
        // changes no bit, so the per-voxel skips of zero weights need not be kept.
        int nx = fg.NX, ny = fg.NY, cx = cg.NX, cy = cg.NY, cz = cg.NZ;
        var i0s = new int[nx];
        var wa = new double[nx]; var wb = new double[nx];
        var va = new bool[nx]; var vb = new bool[nx];
        var inX = new bool[nx];
        for (int i = 0; i < nx; i++)
        {
            double x = i * factors[0];
            inX[i] = x > -1 && x < cx;
            int i0 = (int)Math.Floor(x);
            double fx = x - i0;
            i0s[i] = i0; wa[i] = 1 - fx; wb[i] = fx;
            va[i] = i0 >= 0 && i0 < cx; vb[i] = i0 + 1 >= 0 && i0 + 1 < cx;
        }
        SliceIterator.Run(fg.Rows, new Rows(coarse, fine, factors, nx, ny, cx, cy, cz, i0s, wa, wb, va, vb, inX), maxDegree);
    }

    private readonly struct Rows(float[] coarse, float[] fine, double[] factors, int nx, int ny, int cx, int cy, int cz,
        int[] i0s, double[] wa, double[] wb, bool[] va, bool[] vb, bool[] inX) : IRowOperation
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        [SkipLocalsInit] // the stack buffers are written before they are read
        public unsafe void Invoke(int r)
        {
            int j = r % ny, k = r / ny;
            double y = j * factors[1], z = k * factors[2];
            int o = 3 * r * nx;
            if (!(y > -1 && z > -1 && y < cy && z < cz))
            {
                Array.Clear(fine, o, 3 * nx);
                return;
            }
            int j0 = (int)Math.Floor(y), k0 = (int)Math.Floor(z);
            double fy = y - j0, fz = z - k0;
            int* rowBase = stackalloc int[4];
            double* wyz = stackalloc double[4];
            int nc = 0;
            for (int dk = 0; dk < 2; dk++)
            {
                int kk = k0 + dk;
                double wz = dk == 0 ? 1 - fz : fz;
                if (kk < 0 || kk >= cz) continue;
                for (int dj = 0; dj < 2; dj++)
                {
                    int jj = j0 + dj;
                    if (jj < 0 || jj >= cy) continue;
                    rowBase[nc] = 3 * (kk * cy + jj) * cx;
                    wyz[nc] = wz * (dj == 0 ? 1 - fy : fy);
                    nc++;
                }
            }
            fixed (float* pc = coarse, pf = fine)
            fixed (double* pwa = wa, pwb = wb)
            fixed (int* pi0 = i0s)
            fixed (bool* pva = va, pvb = vb, pin = inX)
            {
                float* dst = pf + o;
                for (int i = 0; i < nx; i++, dst += 3)
                {
                    double ox = 0, oy = 0, oz = 0;
                    if (pin[i])
                    {
                        float* col = pc + 3 * pi0[i];
                        double a = pwa[i], bw = pwb[i];
                        if (pva[i] && pvb[i])
                        {
                            // both x corners inside (all but the last column): no per-corner tests
                            for (int c = 0; c < nc; c++)
                            {
                                float* q = col + rowBase[c];
                                double w = wyz[c] * a; ox += w * q[0]; oy += w * q[1]; oz += w * q[2];
                                w = wyz[c] * bw; ox += w * q[3]; oy += w * q[4]; oz += w * q[5];
                            }
                        }
                        else
                            for (int c = 0; c < nc; c++)
                            {
                                float* q = col + rowBase[c];
                                if (pva[i]) { double w = wyz[c] * a; ox += w * q[0]; oy += w * q[1]; oz += w * q[2]; }
                                if (pvb[i]) { double w = wyz[c] * bw; ox += w * q[3]; oy += w * q[4]; oz += w * q[5]; }
                            }
                    }
                    dst[0] = (float)ox; dst[1] = (float)oy; dst[2] = (float)oz;
                }
            }
        }
    }
}
