using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RegPS.Engine.Images;
using RegPS.Engine.Parallel;
using RegPS.Engine.Resampling;
using static RegPS.Engine.Simd.XyzLanes;

namespace RegPS.Engine.Fields;

/// <summary>What SyN's step needs besides composition: zeroing the faces, and the largest vector length in voxels.</summary>
internal static class FieldNorms
{
    /// <summary>
    /// Zeroes the vectors on the outer voxel layer of every face (x and y faces only in 2D), as DIPY does to each step,
    /// and returns the largest voxel-unit length |W v| of the field then. One parallel pass over the rows: each row
    /// zeroes its own face voxels (the whole row on a y or z face), then takes its largest length (row partials,
    /// order-independent max), the same values as zeroing the faces first and measuring afterwards.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double ZeroFacesAndMaxNorm(float[] f, FieldGrid g, double[] rowMax, int maxDegree)
    {
        SliceIterator.Run(g.Rows, new MaxRows(f, g.NX, g.NY, g.NZ, g.TwoD, g.W, rowMax), maxDegree);
        double max = 0;
        for (int r = 0; r < g.Rows; r++) if (rowMax[r] > max) max = rowMax[r];
        return max;
    }

    private readonly struct MaxRows(float[] f, int nx, int ny, int nz, bool twoD, double[] w, double[] rowMax) : IRowOperation
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Invoke(int r)
        {
            int j = r % ny, k = r / ny;
            int o = 3 * r * nx;
            if (j == 0 || j == ny - 1 || (!twoD && (k == 0 || k == nz - 1)))
            {
                Array.Clear(f, o, 3 * nx);
                rowMax[r] = 0;
                return;
            }
            f[o] = f[o + 1] = f[o + 2] = 0;
            int e = o + 3 * (nx - 1);
            f[e] = f[e + 1] = f[e + 2] = 0;
            // the largest squared length, square-rooted once: sqrt is correctly rounded and monotonic, so this is
            // exactly the largest of the per-voxel lengths
            double m = 0;
            int i = 0;
            if (Vector256.IsHardwareAccelerated) i = MaxSquaredNormSimd(f, o, nx, w, ref m);
            else if (Vector128.IsHardwareAccelerated) i = MaxSquaredNormSimd128(f, o, nx, w, ref m);
            o += 3 * i;
            for (; i < nx; i++, o += 3)
            {
                double x = f[o], y = f[o + 1], z = f[o + 2];
                double a = w[0] * x + w[1] * y + w[2] * z, b = w[3] * x + w[4] * y + w[5] * z, c = w[6] * x + w[7] * y + w[8] * z;
                double n = a * a + b * b + c * c;
                if (n > m) m = n;
            }
            rowMax[r] = Math.Sqrt(m);
        }
    }

    /// <summary>Largest squared voxel length |W v|^2 over 4-voxel groups of a row (double SIMD, the scalar operation order); returns the voxels done.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int MaxSquaredNormSimd(float[] f, int o0, int nx, double[] w, ref double max)
    {
        var w0 = Vector256.Create(w[0]); var w1 = Vector256.Create(w[1]); var w2 = Vector256.Create(w[2]);
        var w3 = Vector256.Create(w[3]); var w4 = Vector256.Create(w[4]); var w5 = Vector256.Create(w[5]);
        var w6 = Vector256.Create(w[6]); var w7 = Vector256.Create(w[7]); var w8 = Vector256.Create(w[8]);
        var vm = Vector256<double>.Zero;
        int i = 0;
        fixed (float* pf = f)
        {
            for (; i + 4 <= nx; i += 4)
            {
                int o = o0 + 3 * i;
                if (o + 12 >= f.Length) break;
                float* s = pf + o;
                Transpose(Vector128.Load(s), Vector128.Load(s + 3), Vector128.Load(s + 6), Vector128.Load(s + 9), out var fx, out var fy, out var fz);
                var x = ToDouble(fx); var y = ToDouble(fy); var z = ToDouble(fz);
                var a = w0 * x + w1 * y + w2 * z; var b = w3 * x + w4 * y + w5 * z; var c = w6 * x + w7 * y + w8 * z;
                vm = Vector256.Max(vm, a * a + b * b + c * c);
            }
        }
        for (int l = 0; l < 4; l++) if (vm.GetElement(l) > max) max = vm.GetElement(l);
        return i;
    }

    /// <summary><see cref="MaxSquaredNormSimd"/> in 2-lane double halves (128-bit vector hardware); the max is the same whatever the grouping.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int MaxSquaredNormSimd128(float[] f, int o0, int nx, double[] w, ref double max)
    {
        var w0 = Vector128.Create(w[0]); var w1 = Vector128.Create(w[1]); var w2 = Vector128.Create(w[2]);
        var w3 = Vector128.Create(w[3]); var w4 = Vector128.Create(w[4]); var w5 = Vector128.Create(w[5]);
        var w6 = Vector128.Create(w[6]); var w7 = Vector128.Create(w[7]); var w8 = Vector128.Create(w[8]);
        var vm = Vector128<double>.Zero;
        int i = 0;
        fixed (float* pf = f)
        {
            for (; i + 4 <= nx; i += 4)
            {
                int o = o0 + 3 * i;
                if (o + 12 >= f.Length) break;
                float* s = pf + o;
                Transpose(Vector128.Load(s), Vector128.Load(s + 3), Vector128.Load(s + 6), Vector128.Load(s + 9), out var fx, out var fy, out var fz);
                for (int h = 0; h < 2; h++)
                {
                    var x = h == 0 ? Vector128.WidenLower(fx) : Vector128.WidenUpper(fx);
                    var y = h == 0 ? Vector128.WidenLower(fy) : Vector128.WidenUpper(fy);
                    var z = h == 0 ? Vector128.WidenLower(fz) : Vector128.WidenUpper(fz);
                    var a = w0 * x + w1 * y + w2 * z; var b = w3 * x + w4 * y + w5 * z; var c = w6 * x + w7 * y + w8 * z;
                    vm = Vector128.Max(vm, a * a + b * b + c * c);
                }
            }
        }
        for (int l = 0; l < 2; l++) if (vm.GetElement(l) > max) max = vm.GetElement(l);
        return i;
    }
}
