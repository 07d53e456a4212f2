using System.Runtime.InteropServices;
using RegPS.Engine.Images;

namespace RegPS.Engine.Tests.IO;

/// <summary>A temporary folder deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir(string prefix = "regps-nifti")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }
    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

internal static class NiftiTestHelpers
{
    /// <summary>An oblique grid-to-world matrix: rotation about three axes times voxel sizes, plus an offset.</summary>
    public static Matrix4 Oblique(double sx = 1.5, double sy = 2.0, double sz = 2.5, double ax = 0.3, double ay = -0.2, double az = 0.45,
        double tx = -40, double ty = 12.5, double tz = 30.25)
    {
        var rx = new Matrix4(new double[] { 1, 0, 0, 0, 0, Math.Cos(ax), -Math.Sin(ax), 0, 0, Math.Sin(ax), Math.Cos(ax), 0, 0, 0, 0, 1 });
        var ry = new Matrix4(new double[] { Math.Cos(ay), 0, Math.Sin(ay), 0, 0, 1, 0, 0, -Math.Sin(ay), 0, Math.Cos(ay), 0, 0, 0, 0, 1 });
        var rz = new Matrix4(new double[] { Math.Cos(az), -Math.Sin(az), 0, 0, Math.Sin(az), Math.Cos(az), 0, 0, 0, 0, 1, 0, 0, 0, 0, 1 });
        return Matrix4.Translation(tx, ty, tz) * rz * ry * rx * Matrix4.Scaling(sx, sy, sz);
    }

    /// <summary>The matrix with every entry rounded to float32, as NIfTI-1 stores it.</summary>
    public static Matrix4 ToFloat32(Matrix4 m) => new(m.ToArray().Select(v => (double)(float)v).ToArray());

    public static float[] RandomVoxels(int n, int seed, double scale = 1000, bool withSpecials = false)
    {
        var rng = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        if (withSpecials && n > 4) { v[0] = float.NaN; v[1] = 0; v[2] = float.Epsilon; v[3] = -0.0f; }
        return v;
    }

    public static double[] ReadF64(string path)
    {
        var bytes = System.IO.File.ReadAllBytes(path);
        var d = MemoryMarshal.Cast<byte, double>(bytes).ToArray();
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException();
        return d;
    }

    /// <summary>float32 <paramref name="actual"/> equals float64 <paramref name="expected"/> rounded to float32 (one ulp of slack).</summary>
    public static bool CloseAsFloat(float actual, double expected)
    {
        if (double.IsNaN(expected)) return float.IsNaN(actual);
        float e = (float)expected;
        // A finite value that rounds past float32 is read as the largest float32 (RegPS never makes finite voxels infinite).
        if (float.IsInfinity(e) && double.IsFinite(expected)) return actual == (expected > 0 ? float.MaxValue : float.MinValue);
        if (float.IsInfinity(e) || float.IsInfinity(actual)) return e == actual;
        return Math.Abs(actual - e) <= Math.Max(Math.Abs(e) * 1.2e-7, 1e-44);
    }

    public static void AssertVoxels(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, string what)
    {
        Assert.True(actual.Length == expected.Length, $"{what}: {actual.Length} voxels, expected {expected.Length}");
        for (int i = 0; i < actual.Length; i++)
            if (!CloseAsFloat(actual[i], expected[i]))
                Assert.Fail($"{what}: voxel {i} is {actual[i]:R}, expected {expected[i]:R}");
    }

    public static void AssertMatrix(double[][] expected, Matrix4 actual, double tolerance, string what)
    {
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++)
                if (Math.Abs(expected[r][c] - actual[r, c]) > tolerance)
                    Assert.Fail($"{what}: [{r},{c}] is {actual[r, c]:R}, expected {expected[r][c]:R} (tolerance {tolerance}); matrix {actual}");
    }

    public static double[][] Rows(Matrix4 m) => m.ToRows();
}
