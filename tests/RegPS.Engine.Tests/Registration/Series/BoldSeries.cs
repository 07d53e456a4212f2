using RegPS.Engine.Filters;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;
using RegPS.Engine.Resampling;
using RegPS.Engine.Tests.Registration.Affine;

namespace RegPS.Engine.Tests.Registration.Series;

/// <summary>
/// A synthetic BOLD-like run made from the bundled real T1 (ITK's KmeansTest_T1UCharRaw, 128x128x62 at 2x2x3 mm):
/// smoothed (sigma about 1.7 mm, a BOLD point-spread), then sampled on a 48x48x24 grid of 4x4x5 mm (RAS) with the head
/// moved by a known rigid motion per volume, multiplied by a slow intensity drift (+6% over the run) and with Gaussian
/// thermal noise (2% of the brain's mean) added. Volume t at world point y is T1(M_t^-1 y): the anatomy at x in the
/// middle volume is at M_t x in volume t, with M_t x = R_t (x - c) + c + T_t, R_t = Rx Ry Rz, c the grid's centre.
/// The middle volume has M = I, so the truth relative to the default reference is (T_t, angles_t) directly.
/// The motion: linear drifts across the run (up to 2 mm, 2 degrees at the ends), two spikes of 3 volumes and one of 1
/// (adding up to 1.2 mm and 1.3 degrees), and a 0.05 mm / 0.03 degree random jitter; every value within 3 mm / 3 degrees.
/// <para>Volumes are sampled from the smoothed T1 with a cubic B-spline, not trilinearly: trilinear sampling of the 2x2x3 mm
/// T1 blurs each volume by an amount that depends on its sub-voxel position (all 4 mm nodes share one phase of the 2 mm
/// lattice along x), so the series' sharpness would change with the motion, which real motion does not do; least squares
/// reads that as misalignment (measured: 0.2 mm bias in y for one sign of the motion).</para>
/// </summary>
public sealed class BoldSeries
{
    public const int NX = 48, NY = 48, NZ = 24;
    public static readonly double[] Spacing = { 4, 4, 5 };

    public BoldSeries(int volumes = 40, int seed = 11, bool motion = true, bool noise = true)
    {
        var t1 = T1.Value;
        var (cx, cy, cz) = T1Centre.Value;
        // Grid centred on the T1's intensity centre, RAS axes.
        var g2w = new Matrix4(new double[]
        {
            Spacing[0], 0, 0, cx - Spacing[0] * (NX - 1) / 2.0,
            0, Spacing[1], 0, cy - Spacing[1] * (NY - 1) / 2.0,
            0, 0, Spacing[2], cz - Spacing[2] * (NZ - 1) / 2.0,
            0, 0, 0, 1,
        });
        Grid = new Grid(NX, NY, NZ, g2w);
        Centre = new[] { cx, cy, cz };
        Volumes = volumes;
        Truth = new double[volumes][];
        var rng = new Random(seed);
        int mid = volumes / 2;
        for (int t = 0; t < volumes; t++)
        {
            var p = new double[6]; // tx ty tz (mm), rx ry rz (degrees)
            if (motion)
            {
                double s = (t - mid) / (double)mid; // -1 .. 1, 0 at the middle volume
                double[] drift = { 1.5, -1.0, 2.0, 1.5, -2.0, 1.0 };
                for (int k = 0; k < 6; k++) p[k] = drift[k] * s;
                double[] spikeA = { 0.8, 0.5, -1.2, 1.0, 0.5, -1.3 };
                double[] spikeB = { -1.0, 1.2, 0.6, -0.8, 1.2, 0.7 };
                if (t >= 7 && t < 10) for (int k = 0; k < 6; k++) p[k] += spikeA[k];
                if (t == volumes - 9) for (int k = 0; k < 6; k++) p[k] += spikeB[k];
                if (t >= volumes - 5 && t < volumes - 2) for (int k = 0; k < 6; k++) p[k] += 0.5 * spikeA[k];
                if (t != mid)
                    for (int k = 0; k < 6; k++) p[k] += (rng.NextDouble() - 0.5) * (k < 3 ? 0.1 : 0.06);
            }
            Truth[t] = p;
        }

        var data = new float[(long)Grid.VoxelCount * volumes];
        var noiseRng = new Random(seed + 1);
        double brainMean = BrainMean.Value;
        for (int t = 0; t < volumes; t++)
        {
            var m = Motion(Truth[t], Centre);
            var vol = Resampler.Resample(t1, Grid, m.Inverse(), Interpolation.BSpline, Boundary.Constant, 1);
            double gain = 1 + 0.06 * t / Math.Max(1, volumes - 1);
            var v = vol.Voxels;
            int o = t * Grid.VoxelCount;
            for (int i = 0; i < Grid.VoxelCount; i++)
            {
                double x = v[i] * gain;
                if (noise) x += 0.02 * brainMean * Gaussian01(noiseRng);
                data[o + i] = (float)x;
            }
        }
        Image = new Image(Grid, data, volumes);
    }

    public Grid Grid { get; }
    public double[] Centre { get; }
    public int Volumes { get; }
    public Image Image { get; }

    /// <summary>Per volume: tx, ty, tz (mm), rx, ry, rz (degrees), relative to the middle volume.</summary>
    public double[][] Truth { get; }

    /// <summary>M x = Rx Ry Rz (x - c) + c + T, built here from elementary rotations (not by the code under test).</summary>
    public static Matrix4 Motion(double[] p, double[] c)
    {
        const double d = Math.PI / 180;
        double a = p[3] * d, b = p[4] * d, g = p[5] * d;
        var rx = new Matrix4(new[] { 1, 0, 0, 0, 0, Math.Cos(a), -Math.Sin(a), 0, 0, Math.Sin(a), Math.Cos(a), 0, 0, 0, 0, 1.0 });
        var ry = new Matrix4(new[] { Math.Cos(b), 0, Math.Sin(b), 0, 0, 1, 0, 0, -Math.Sin(b), 0, Math.Cos(b), 0, 0, 0, 0, 1.0 });
        var rz = new Matrix4(new[] { Math.Cos(g), -Math.Sin(g), 0, 0, Math.Sin(g), Math.Cos(g), 0, 0, 0, 0, 1, 0, 0, 0, 0, 1.0 });
        return Matrix4.Translation(c[0] + p[0], c[1] + p[1], c[2] + p[2]) * rx * ry * rz * Matrix4.Translation(-c[0], -c[1], -c[2]);
    }

    /// <summary>Recovered parameters in the truth's units: tx, ty, tz (mm), rx, ry, rz (degrees).</summary>
    public static double[] InTruthUnits(MotionParameters p) =>
        new[] { p.TransX, p.TransY, p.TransZ, p.RotX * 180 / Math.PI, p.RotY * 180 / Math.PI, p.RotZ * 180 / Math.PI };

    /// <summary>Mean and largest |recovered - true| of each of the six parameters over the volumes (mm, degrees).</summary>
    public (double[] Mean, double[] Max) ParameterErrors(MotionCorrectionResult r)
    {
        double[] mean = new double[6], max = new double[6];
        for (int t = 0; t < Volumes; t++)
        {
            var got = InTruthUnits(r.Parameters[t]);
            for (int k = 0; k < 6; k++)
            {
                double e = Math.Abs(got[k] - Truth[t][k]);
                mean[k] += e / Volumes;
                max[k] = Math.Max(max[k], e);
            }
        }
        return (mean, max);
    }

    /// <summary>Framewise displacement of the truth (Power 2012, 50 mm), written out here.</summary>
    public double TrueFd(int t)
    {
        const double d = Math.PI / 180;
        double fd = 0;
        for (int k = 0; k < 3; k++) fd += Math.Abs(Truth[t][k] - Truth[t - 1][k]);
        for (int k = 3; k < 6; k++) fd += 50 * d * Math.Abs(Truth[t][k] - Truth[t - 1][k]);
        return fd;
    }

    /// <summary>Voxels of the motion-free head above a quarter of its 99th percentile: the brain and scalp.</summary>
    public bool[] HeadMask()
    {
        var still = Resampler.Resample(T1.Value, Grid, null, Interpolation.Linear, Boundary.Constant, 1).ToArray();
        var sorted = (float[])still.Clone();
        Array.Sort(sorted);
        float p99 = sorted[(int)(0.99 * (sorted.Length - 1))];
        // Also stay 2 voxels away from the grid's faces, where motion brings in zeros from outside the field of view.
        var mask = new bool[still.Length];
        for (int k = 2; k < NZ - 2; k++)
            for (int j = 2; j < NY - 2; j++)
                for (int i = 2; i < NX - 2; i++)
                {
                    int idx = Grid.Index(i, j, k);
                    mask[idx] = still[idx] > 0.25 * p99;
                }
        return mask;
    }

    /// <summary>The smoothed T1 without motion, noise or drift, sampled on any grid.</summary>
    public static Image StillHead(Grid grid) => Resampler.Resample(T1.Value, grid, null, Interpolation.BSpline, Boundary.Constant, 1);

    private static double Gaussian01(Random r)
    {
        double u1 = 1 - r.NextDouble(), u2 = r.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>
    /// The T1 smoothed by sigma (0.85, 0.85, 0.57) voxels = about 1.7 mm, a point-spread near a 4 mm voxel's, after it is
    /// padded with 6 voxels of zeros on every side. The T1's field of view cuts the back of the head (the scalp is still
    /// bright, up to 196, in its first slice along y, 8.5 mm inside the BOLD grid); without the padding that cut stays a
    /// sharp step (smoothing reflects at the array's end, and the resampler then puts zeros next to it), which moves with
    /// the head but is not band-limited, so on 4 mm voxels its look changes with each volume's sub-voxel position as no
    /// rigid motion does. That biased every least-squares estimate by -0.1 to -0.19 mm along y (measured: mean ty error
    /// 0.115 mm with the step, 0.0075 mm with the padding; masking the 3 slices at the back gave the same 0.017 mm).
    /// </summary>
    private static readonly Lazy<Image> T1 = new(() =>
    {
        var raw = NiftiReader.Read(RealImageAffineTests.Sample("KmeansTest_T1UCharRaw.nii.gz"));
        var g = raw.Grid;
        const int p = 6;
        var padded = new Grid(g.NX + 2 * p, g.NY + 2 * p, g.NZ + 2 * p, g.GridToWorld * Matrix4.Translation(-p, -p, -p));
        var v = new float[padded.VoxelCount];
        for (int k = 0; k < g.NZ; k++)
            for (int j = 0; j < g.NY; j++)
                for (int i = 0; i < g.NX; i++) v[padded.Index(i + p, j + p, k + p)] = raw[i, j, k];
        return Gaussian.Smooth(new Image(padded, v), new[] { 0.85, 0.85, 0.57 }, 1);
    });

    private static readonly Lazy<(double, double, double)> T1Centre = new(() =>
    {
        var img = T1.Value;
        var g = img.Grid;
        double sw = 0, sx = 0, sy = 0, sz = 0;
        for (int k = 0; k < g.NZ; k++)
            for (int j = 0; j < g.NY; j++)
                for (int i = 0; i < g.NX; i++)
                {
                    double w = img[i, j, k];
                    if (!(w > 0)) continue;
                    var (x, y, z) = g.ToWorld(i, j, k);
                    sw += w; sx += w * x; sy += w * y; sz += w * z;
                }
        return (sx / sw, sy / sw, sz / sw);
    });

    private static readonly Lazy<double> BrainMean = new(() =>
    {
        var v = T1.Value.Voxels.ToArray();
        float max = v.Max();
        var inside = v.Where(x => x > 0.25 * max).ToArray();
        return inside.Average(x => (double)x);
    });
}
