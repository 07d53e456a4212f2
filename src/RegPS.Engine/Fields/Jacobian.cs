using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RegPS.Engine.Images;
using RegPS.Engine.Parallel;
using RegPS.Engine.Resampling;
using static RegPS.Engine.Simd.XyzLanes;

namespace RegPS.Engine.Fields;

/// <summary>The Jacobian determinant of the point map a displacement field defines (folds show as values at or below 0).</summary>
internal static class FieldJacobian
{
    /// <summary>
    /// det(I + Df) of the map x -> x + f(x) in world coordinates, times <paramref name="linearDet"/> (the prealign's).
    /// Derivatives along voxel axes are numpy.gradient's (central inside, one-sided on the faces), taken to world
    /// axes with W (chain rule). 2D uses the 2x2 block.
    /// </summary>
    public static void Determinant(float[] f, FieldGrid g, double linearDet, float[] dst, int maxDegree)
    {
        int nx = g.NX, ny = g.NY, nz = g.NZ;
        var w = g.W;
        bool twoD = g.TwoD;
        SliceIterator.Run(g.Rows, new Rows(f, nx, ny, nz, w, twoD, linearDet, dst), maxDegree);
    }

    private readonly struct Rows(float[] f, int nx, int ny, int nz, double[] w, bool twoD, double linearDet, float[] dst) : IRowOperation
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Invoke(int r)
        {
            int j = r % ny, k = r / ny;
            Span<double> dv = stackalloc double[9]; // dv[a*3+c] = d f_a / d index_c
            for (int i = 0; i < nx; i++)
            {
                int v = (k * ny + j) * nx + i;
                Deriv(f, v, i, nx, 1, dv, 0);
                Deriv(f, v, j, ny, nx, dv, 1);
                if (twoD) { dv[2] = dv[5] = dv[8] = 0; } else Deriv(f, v, k, nz, nx * ny, dv, 2);
                // J[a][b] = delta_ab + sum_c dv[a][c] W[c][b]
                double j00 = 1 + dv[0] * w[0] + dv[1] * w[3] + dv[2] * w[6];
                double j01 = dv[0] * w[1] + dv[1] * w[4] + dv[2] * w[7];
                double j10 = dv[3] * w[0] + dv[4] * w[3] + dv[5] * w[6];
                double j11 = 1 + dv[3] * w[1] + dv[4] * w[4] + dv[5] * w[7];
                double det;
                if (twoD) det = j00 * j11 - j01 * j10;
                else
                {
                    double j02 = dv[0] * w[2] + dv[1] * w[5] + dv[2] * w[8];
                    double j12 = dv[3] * w[2] + dv[4] * w[5] + dv[5] * w[8];
                    double j20 = dv[6] * w[0] + dv[7] * w[3] + dv[8] * w[6];
                    double j21 = dv[6] * w[1] + dv[7] * w[4] + dv[8] * w[7];
                    double j22 = 1 + dv[6] * w[2] + dv[7] * w[5] + dv[8] * w[8];
                    det = j00 * (j11 * j22 - j12 * j21) - j01 * (j10 * j22 - j12 * j20) + j02 * (j10 * j21 - j11 * j20);
                }
                dst[v] = (float)(det * linearDet);
            }
        }
    }

    private static void Deriv(float[] f, int v, int pos, int n, int stride, Span<double> dv, int c)
    {
        if (n == 1) { dv[c] = dv[3 + c] = dv[6 + c] = 0; return; }
        int lo = pos > 0 ? v - stride : v, hi = pos < n - 1 ? v + stride : v;
        double h = (pos > 0 && pos < n - 1) ? 0.5 : 1.0;
        for (int a = 0; a < 3; a++) dv[a * 3 + c] = h * (f[3 * hi + a] - f[3 * lo + a]);
    }
}
