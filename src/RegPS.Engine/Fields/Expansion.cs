using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using RegPS.Engine.Parallel;

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
        // Separable, in double: per fine row, the (up to 4) coarse rows that its y and z corners select are blended
        // with their y/z weights into one coarse-resolution row, then each fine voxel blends that row's two x corners.
        // Per fine voxel that is 6 products instead of 24 (the blend of the coarse row is shared by about two fine
        // voxels). The same trilinear value as corner by corner, summed in another order (in double, then rounded to
        // float). What depends only on the column (x corners, weights) is computed once for all rows.
        int nx = fg.NX, cx = cg.NX;
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
        SliceIterator.Run(fg.Rows, new Rows(coarse, fine, factors, nx, fg.NY, cx, cg.NY, cg.NZ, i0s, wa, wb, va, vb, inX), maxDegree);
    }

    /// <summary>A buffer of at least n doubles for this thread's rows.</summary>
    [ThreadStatic] private static double[]? t_row;

    private readonly struct Rows(float[] coarse, float[] fine, double[] factors, int nx, int ny, int cx, int cy, int cz,
        int[] i0s, double[] wa, double[] wb, bool[] va, bool[] vb, bool[] inX) : IRowOperation
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
            var t = t_row;
            if (t is null || t.Length < 3 * cx) t_row = t = new double[3 * cx];
            Array.Clear(t, 0, 3 * cx);
            int len = 3 * cx;
            fixed (float* pc = coarse, pf = fine)
            fixed (double* pt = t, pwa = wa, pwb = wb)
            {
                // the coarse row blended over the y and z corners that exist (zero padding: the others add nothing)
                for (int dk = 0; dk < 2; dk++)
                {
                    int kk = k0 + dk;
                    if (kk < 0 || kk >= cz) continue;
                    double wz = dk == 0 ? 1 - fz : fz;
                    for (int dj = 0; dj < 2; dj++)
                    {
                        int jj = j0 + dj;
                        if (jj < 0 || jj >= cy) continue;
                        double w = wz * (dj == 0 ? 1 - fy : fy);
                        float* src = pc + 3L * (kk * cy + jj) * cx;
                        int q = 0;
                        if (Vector128.IsHardwareAccelerated)
                        {
                            var vw = Vector128.Create(w);
                            for (; q + 4 <= len; q += 4)
                            {
                                var s4 = Vector128.Load(src + q);
                                Vector128.Store(Vector128.Load(pt + q) + vw * Vector128.WidenLower(s4), pt + q);
                                Vector128.Store(Vector128.Load(pt + q + 2) + vw * Vector128.WidenUpper(s4), pt + q + 2);
                            }
                        }
                        for (; q < len; q++) pt[q] += w * src[q];
                    }
                }
                float* dst = pf + o;
                for (int i = 0; i < nx; i++, dst += 3)
                {
                    double ox = 0, oy = 0, oz = 0;
                    if (inX[i])
                    {
                        double* col = pt + 3 * i0s[i];
                        if (va[i]) { double a = pwa[i]; ox = a * col[0]; oy = a * col[1]; oz = a * col[2]; }
                        if (vb[i]) { double b = pwb[i]; ox += b * col[3]; oy += b * col[4]; oz += b * col[5]; }
                    }
                    dst[0] = (float)ox; dst[1] = (float)oy; dst[2] = (float)oz;
                }
            }
        }
    }
}
