using System.Diagnostics;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;
using Xunit.Abstractions;

namespace RegPS.Engine.Tests.Registration.Series;

/// <summary>
/// One run of motion correction (rigid, middle volume, two passes) on a 40-volume synthetic BOLD series, with the default
/// least squares (<see cref="CorrectedRun"/>) or with mutual information (<see cref="MutualInformationRun"/>).
/// </summary>
public class CorrectedRun
{
    public CorrectedRun() : this(null) { }

    protected CorrectedRun(SeriesMetric? metric)
    {
        Series = Shared.Value;
        var clock = Stopwatch.StartNew();
        var options = new MotionCorrectionOptions { MaxDegreeOfParallelism = 2 };
        Result = MotionCorrection.Register(Series.Image, metric is { } m ? options with { Metric = m } : options);
        Seconds = clock.Elapsed.TotalSeconds;
    }

    private static readonly Lazy<BoldSeries> Shared = new(() => new BoldSeries(40));

    public BoldSeries Series { get; }
    public MotionCorrectionResult Result { get; }
    public double Seconds { get; }
}

/// <summary>The same run with mutual information.</summary>
public sealed class MutualInformationRun : CorrectedRun
{
    public MutualInformationRun() : base(SeriesMetric.MutualInformation) { }
}

/// <summary>
/// Mutual information on the same series, against the same truth. Its parameters are as close as least squares' on
/// average (measured: translations 0.005-0.02 mm, rotations 0.012-0.021 degrees), but its estimates scatter more from
/// volume to volume (measured: framewise displacement 0.025 mm off on average, 0.15 mm at worst, where least squares is
/// 0.009 mm off), so its framewise-displacement bound is looser than the default's.
/// </summary>
public class MutualInformationMotionTests : IClassFixture<MutualInformationRun>
{
    private readonly MutualInformationRun _run;
    private readonly ITestOutputHelper _out;

    public MutualInformationMotionTests(MutualInformationRun run, ITestOutputHelper output)
    {
        _run = run;
        _out = output;
    }

    [Fact]
    public void RecoversTheRigidMotionOfEveryVolume()
    {
        var s = _run.Series;
        var r = _run.Result;
        Assert.Equal(SeriesMetric.MutualInformation, r.Options.Metric);
        var (meanError, _) = s.ParameterErrors(r);
        _out.WriteLine($"{_run.Seconds:0.0} s; mean |error| tx ty tz (mm), rx ry rz (deg): " + string.Join(" ", meanError.Select(e => e.ToString("0.0000"))));
        for (int k = 0; k < 3; k++) Assert.True(meanError[k] < 0.05, $"translation {k}: mean error {meanError[k]:0.0000} mm");
        for (int k = 3; k < 6; k++) Assert.True(meanError[k] < 0.05, $"rotation {k - 3}: mean error {meanError[k]:0.0000} degrees");
    }

    [Fact]
    public void FramewiseDisplacementIsNearTheTruth()
    {
        var s = _run.Series;
        var r = _run.Result;
        double mean = 0;
        for (int t = 1; t < s.Volumes; t++) mean += Math.Abs(r.Parameters[t].FramewiseDisplacement - s.TrueFd(t)) / (s.Volumes - 1);
        double trueMean = Enumerable.Range(1, s.Volumes - 1).Average(s.TrueFd);
        _out.WriteLine($"FD: mean |error| {mean:0.0000} mm; mean FD {r.MeanFramewiseDisplacement:0.000} (truth {trueMean:0.000})");
        Assert.True(mean < 0.04, $"FD mean error {mean:0.0000} mm");
        Assert.InRange(r.MeanFramewiseDisplacement, trueMean - 0.03, trueMean + 0.03);
    }
}

/// <summary>
/// Ground truth, with the default least squares: the recovered motion of every volume against the motion the series was made
/// with (BoldSeries), the framewise displacement against the truth's, and the corrected series' temporal noise inside
/// the head.
/// </summary>
public class MotionCorrectionTests : IClassFixture<CorrectedRun>
{
    private readonly CorrectedRun _run;
    private readonly ITestOutputHelper _out;

    public MotionCorrectionTests(CorrectedRun run, ITestOutputHelper output)
    {
        _run = run;
        _out = output;
    }

    [Fact]
    public void RecoversTheRigidMotionOfEveryVolume()
    {
        var s = _run.Series;
        var r = _run.Result;
        Assert.Equal(SeriesMetric.LeastSquares, r.Options.Metric);
        // After the pass to the mean the motion is put back relative to the first reference, the middle volume.
        Assert.Equal(Matrix4.Identity.ToArray(), r.Affines[s.Volumes / 2].ToArray());
        _out.WriteLine($"{s.Volumes} volumes, 2 passes, 2 threads: {_run.Seconds:0.0} s ({r.SecondsPerVolume:0.000} s per volume and pass; passes {string.Join(", ", r.PassTimes.Select(p => p.TotalSeconds.ToString("0.0")))} s)");
        Assert.Equal(s.Volumes, r.Volumes);
        for (int t = 0; t < s.Volumes; t++)
        {
            Assert.Equal(t, r.Parameters[t].Volume);
            var got = BoldSeries.InTruthUnits(r.Parameters[t]);
            _out.WriteLine($"{t,3} truth {string.Join(" ", s.Truth[t].Select(x => x.ToString("0.000").PadLeft(7)))} err {string.Join(" ", got.Select((g, k) => (g - s.Truth[t][k]).ToString("0.000").PadLeft(7)))}");
        }
        var (meanError, maxError) = s.ParameterErrors(r);
        _out.WriteLine("mean |error| tx ty tz (mm), rx ry rz (deg): " + string.Join(" ", meanError.Select(e => e.ToString("0.0000"))));
        _out.WriteLine("max  |error|: " + string.Join(" ", maxError.Select(e => e.ToString("0.0000"))));
        for (int k = 0; k < 3; k++) Assert.True(meanError[k] < 0.05, $"translation {k}: mean error {meanError[k]:0.0000} mm");
        for (int k = 3; k < 6; k++) Assert.True(meanError[k] < 0.05, $"rotation {k - 3}: mean error {meanError[k]:0.0000} degrees");
        // The matrices agree with the parameters: the affine maps the reference centre to centre + T.
        var c = r.Center;
        for (int k = 0; k < 3; k++) Assert.Equal(s.Centre[k], c[k], 6);
    }

    [Fact]
    public void FramewiseDisplacementMatchesTheTruth()
    {
        var s = _run.Series;
        var r = _run.Result;
        Assert.True(double.IsNaN(r.Parameters[0].FramewiseDisplacement));
        double mean = 0, max = 0;
        int above = 0;
        for (int t = 1; t < s.Volumes; t++)
        {
            double truth = s.TrueFd(t);
            double e = Math.Abs(r.Parameters[t].FramewiseDisplacement - truth);
            mean += e / (s.Volumes - 1);
            max = Math.Max(max, e);
            if (truth > 0.5) above++;
        }
        _out.WriteLine($"FD: mean |error| {mean:0.0000} mm, max {max:0.0000} mm; mean FD {r.MeanFramewiseDisplacement:0.000}, max {r.MaxFramewiseDisplacement:0.000}, {r.VolumesAbove05mm} above 0.5 mm (truth {above})");
        Assert.True(mean < 0.02, $"FD mean error {mean:0.0000} mm");
        Assert.Equal(above, r.VolumesAbove05mm);
        double trueMean = Enumerable.Range(1, s.Volumes - 1).Average(s.TrueFd);
        Assert.InRange(r.MeanFramewiseDisplacement, trueMean - 0.02, trueMean + 0.02);
    }

    [Fact]
    public void CorrectionLowersTheTemporalNoiseInsideTheHead()
    {
        var s = _run.Series;
        var r = _run.Result;
        Assert.Equal(s.Volumes, r.Corrected.Volumes);
        Assert.True(r.Corrected.Grid.SameAs(s.Grid, 0));
        var mask = s.HeadMask();
        var still = new BoldSeries(s.Volumes, motion: false);
        double before = MeanTemporalSd(s.Image, mask), after = MeanTemporalSd(r.Corrected, mask), floor = MeanTemporalSd(still.Image, mask);
        // A perfect correction: every volume resampled (as the engine does, trilinear) through its true motion.
        var g = s.Grid;
        var perfectData = new float[s.Image.Buffer.Length];
        for (int t = 0; t < s.Volumes; t++)
            SeriesResampling.Trilinear(s.Image.Buffer, t * g.VoxelCount, g, g, g.WorldToGrid * BoldSeries.Motion(s.Truth[t], s.Centre) * g.GridToWorld, perfectData, t * g.VoxelCount);
        double perfect = MeanTemporalSd(new Image(g, perfectData, s.Volumes), mask);
        _out.WriteLine($"mean temporal SD in the head ({mask.Count(m => m)} voxels): moving {before:0.00}, corrected {after:0.00}, perfectly corrected {perfect:0.00}, motion-free {floor:0.00}");
        Assert.True(after < 1.02 * perfect, $"corrected {after} vs perfectly corrected {perfect}");
        Assert.True(after < 0.5 * before, $"corrected {after} vs before {before}");
        // Near what a series without motion has (same noise and drift): what is left is interpolation (linear resampling
        // blurs the anatomy by an amount that changes with each volume's sub-voxel offset), as much as a perfect
        // correction leaves (measured: corrected 3.05, perfect 3.07, motion-free 2.28).
        Assert.True(after < 1.4 * floor, $"corrected {after} vs motion-free {floor}");
    }

    [Fact]
    public void RmsDisplacementIsTheMeanOverTheSphere()
    {
        // Monte-Carlo check of the closed form: average |A x - x|^2 over points uniform in the 80 mm ball about the centre.
        var r = _run.Result;
        var rng = new Random(5);
        foreach (int t in new[] { 3, 8, 31 })
        {
            var a = r.Affines[t];
            var prev = r.Affines[t - 1];
            double sumAbs = 0, sumRel = 0;
            int n = 0;
            while (n < 200_000)
            {
                double x = (rng.NextDouble() * 2 - 1) * 80, y = (rng.NextDouble() * 2 - 1) * 80, z = (rng.NextDouble() * 2 - 1) * 80;
                if (x * x + y * y + z * z > 80 * 80) continue;
                n++;
                double px = r.Center[0] + x, py = r.Center[1] + y, pz = r.Center[2] + z;
                var (ax, ay, az) = a.Apply(px, py, pz);
                var (bx, by, bz) = prev.Apply(px, py, pz);
                sumAbs += (ax - px) * (ax - px) + (ay - py) * (ay - py) + (az - pz) * (az - pz);
                sumRel += (ax - bx) * (ax - bx) + (ay - by) * (ay - by) + (az - bz) * (az - bz);
            }
            Assert.Equal(Math.Sqrt(sumAbs / n), r.Parameters[t].RmsAbsolute, 0.02);
            Assert.Equal(Math.Sqrt(sumRel / n), r.Parameters[t].RmsRelative, 0.02);
        }
    }

    internal static double MeanTemporalSd(Image series, bool[] mask)
    {
        int n = series.Grid.VoxelCount, v = series.Volumes;
        var d = series.Voxels;
        double total = 0;
        int count = 0;
        for (int i = 0; i < n; i++)
        {
            if (!mask[i]) continue;
            double s = 0, s2 = 0;
            for (int t = 0; t < v; t++) { double x = d[t * n + i]; s += x; s2 += x * x; }
            double m = s / v;
            total += Math.Sqrt(Math.Max(0, s2 / v - m * m));
            count++;
        }
        return total / count;
    }
}

/// <summary>Threads, references, passes and input errors, on short series.</summary>
public class MotionCorrectionOptionTests
{
    private readonly ITestOutputHelper _out;
    public MotionCorrectionOptionTests(ITestOutputHelper output) => _out = output;

    private static readonly Lazy<BoldSeries> Short = new(() => new BoldSeries(8, seed: 3));

    [Fact]
    public void OneAndTwoThreadsGiveIdenticalResults()
    {
        var s = Short.Value;
        var one = MotionCorrection.Register(s.Image, new MotionCorrectionOptions { MaxDegreeOfParallelism = 1 });
        var two = MotionCorrection.Register(s.Image, new MotionCorrectionOptions { MaxDegreeOfParallelism = 2 });
        _out.WriteLine($"8 volumes x 2 passes: 1 thread {one.Elapsed.TotalSeconds:0.00} s, 2 threads {two.Elapsed.TotalSeconds:0.00} s");
        for (int t = 0; t < s.Volumes; t++)
        {
            Assert.Equal(one.Affines[t].ToArray(), two.Affines[t].ToArray());
            Assert.Equal(one.Parameters[t], two.Parameters[t]);
        }
        Assert.True(one.Corrected.Voxels.SequenceEqual(two.Corrected.Voxels));
        Assert.True(one.Mean.Voxels.SequenceEqual(two.Mean.Voxels));
    }

    [Fact]
    public void FirstVolumeReferenceGivesMotionRelativeToIt()
    {
        // One pass to volume 0: volume 0 is the identity and volume t's motion is M_t M_0^-1, checked on the matrices.
        var s = Short.Value;
        var r = MotionCorrection.Register(s.Image, new MotionCorrectionOptions { Reference = SeriesReference.First, Passes = 1, MaxDegreeOfParallelism = 2 });
        Assert.Equal(Matrix4.Identity.ToArray(), r.Affines[0].ToArray());
        Assert.Equal(0, r.Parameters[0].TransX);
        Assert.Equal("first volume 0", r.ReferenceDescription);
        var m0inv = BoldSeries.Motion(s.Truth[0], s.Centre).Inverse();
        double worst = 0;
        for (int t = 1; t < s.Volumes; t++)
        {
            var truth = BoldSeries.Motion(s.Truth[t], s.Centre) * m0inv;
            // Displacement of the reference centre and of points 60 mm away along each axis.
            foreach (var (dx, dy, dz) in new[] { (0.0, 0.0, 0.0), (60.0, 0, 0), (0, 60.0, 0), (0, 0, 60.0) })
            {
                double x = s.Centre[0] + dx, y = s.Centre[1] + dy, z = s.Centre[2] + dz;
                var a = r.Affines[t].Apply(x, y, z);
                var b = truth.Apply(x, y, z);
                double e = Math.Sqrt((a.X - b.X) * (a.X - b.X) + (a.Y - b.Y) * (a.Y - b.Y) + (a.Z - b.Z) * (a.Z - b.Z));
                worst = Math.Max(worst, e);
                // One pass, the worst of four points (measured: 0.061 mm).
                Assert.True(e < 0.1, $"volume {t}, point +({dx},{dy},{dz}): {e:0.000} mm");
            }
        }
        _out.WriteLine($"first-volume reference: worst at 60 mm {worst:0.000} mm");
    }

    [Fact]
    public void ReferenceImageOnAnotherGridAndAMaskWork()
    {
        // The still head on a 5 mm grid shifted by half a voxel: the motion found is then the truth M_t itself.
        var s = Short.Value;
        var g = s.Grid;
        var other = new Grid(40, 40, 20, Matrix4.Translation(2.5, -2.5, 2.5) * new Matrix4(new[]
        {
            5, 0, 0, s.Centre[0] - 5 * 19.5, 0, 5, 0, s.Centre[1] - 5 * 19.5, 0, 0, 5, s.Centre[2] - 5 * 9.5, 0, 0, 0, 1.0,
        }));
        var reference = BoldSeries.StillHead(other);
        var r = MotionCorrection.Register(s.Image, new MotionCorrectionOptions
        {
            Reference = SeriesReference.Image, ReferenceImage = reference, Passes = 1, MaxDegreeOfParallelism = 2,
        });
        Assert.True(r.Corrected.Grid.SameAs(g, 0));
        var (cx, cy, cz) = other.ToWorld(19.5, 19.5, 9.5);
        Assert.Equal(new[] { cx, cy, cz }, r.Center);
        // With a head mask on the series' grid (the default reference, volume 4).
        var headMask = new Image(g, s.HeadMask().Select(m => m ? 1f : 0f).ToArray());
        var masked = MotionCorrection.Register(s.Image, new MotionCorrectionOptions { Mask = headMask, Passes = 1, MaxDegreeOfParallelism = 2 });
        var unmasked = MotionCorrection.Register(s.Image, new MotionCorrectionOptions { Passes = 1, MaxDegreeOfParallelism = 2 });
        Assert.NotEqual(unmasked.Affines[0].ToArray(), masked.Affines[0].ToArray()); // the mask changes what is sampled
        // One pass, the worst of four points up to 60 mm from the centre over all volumes: looser than the two-pass mean
        // errors above (measured: 0.098 mm with the image reference, 0.088 mm with the mask).
        var m4inv = BoldSeries.Motion(s.Truth[4], s.Centre).Inverse();
        _out.WriteLine("worst at 60 mm, image reference / masked: " + Enumerable.Range(0, s.Volumes).Max(t => Distance(r.Affines[t], BoldSeries.Motion(s.Truth[t], s.Centre), s.Centre)).ToString("0.000")
            + " / " + Enumerable.Range(0, s.Volumes).Max(t => Distance(masked.Affines[t], BoldSeries.Motion(s.Truth[t], s.Centre) * m4inv, s.Centre)).ToString("0.000"));
        for (int t = 0; t < s.Volumes; t++)
        {
            var truth = BoldSeries.Motion(s.Truth[t], s.Centre);
            Assert.True(Distance(r.Affines[t], truth, s.Centre) < 0.15, $"image reference, volume {t}: {Distance(r.Affines[t], truth, s.Centre):0.000} mm");
            var rel = truth * m4inv;
            Assert.True(Distance(masked.Affines[t], rel, s.Centre) < 0.15, $"masked, volume {t}: {Distance(masked.Affines[t], rel, s.Centre):0.000} mm");
        }
    }

    /// <summary>Largest distance between where two matrices send the centre and points 60 mm from it along each axis.</summary>
    private static double Distance(Matrix4 a, Matrix4 b, double[] c)
    {
        double worst = 0;
        foreach (var (dx, dy, dz) in new[] { (0.0, 0.0, 0.0), (60.0, 0, 0), (0, 60.0, 0), (0, 0, 60.0) })
        {
            var p = a.Apply(c[0] + dx, c[1] + dy, c[2] + dz);
            var q = b.Apply(c[0] + dx, c[1] + dy, c[2] + dz);
            worst = Math.Max(worst, Math.Sqrt((p.X - q.X) * (p.X - q.X) + (p.Y - q.Y) * (p.Y - q.Y) + (p.Z - q.Z) * (p.Z - q.Z)));
        }
        return worst;
    }

    [Fact]
    public void CorrectedSeriesKeepsTheSourceGridAndRepetitionTime()
    {
        // A file with TR 2.5 s (xyzt_units mm + s): the corrected series written back is 4D with the same TR and grid.
        var s = Short.Value;
        string dir = Directory.CreateTempSubdirectory("regps-series-tr-").FullName;
        try
        {
            string path = Path.Combine(dir, "bold.nii.gz");
            NiftiWriter.Write(s.Image, path);
            var header = NiftiReader.Read(path).SourceHeader!.Clone();
            header.PixDim[4] = 2.5;
            header.XyztUnits = 2 | 8;
            var withTr = new Image(s.Grid, s.Image.ToArray(), s.Volumes, null, path, "float32", header);
            var r = MotionCorrection.Register(withTr, new MotionCorrectionOptions { Transform = TransformType.Translation, Passes = 1, MaxDegreeOfParallelism = 2 });
            Assert.Equal(2.5, r.RepetitionTime);
            string outPath = Path.Combine(dir, "bold_mc.nii.gz");
            NiftiWriter.Write(r.Corrected, outPath);
            var back = NiftiReader.Read(outPath);
            Assert.Equal(s.Volumes, back.Volumes);
            Assert.True(back.Grid.SameAs(s.Grid, 1e-4));
            Assert.Equal(2.5, back.SourceHeader!.PixDim[4], 6);
            Assert.Equal(8, back.SourceHeader.XyztUnits & 0x38);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void TranslationOnlyReportsNoRotation()
    {
        var s = Short.Value;
        var r = MotionCorrection.Register(s.Image, new MotionCorrectionOptions { Transform = TransformType.Translation, Passes = 1, MaxDegreeOfParallelism = 2 });
        foreach (var p in r.Parameters)
        {
            Assert.Equal(0, p.RotX);
            Assert.Equal(0, p.RotY);
            Assert.Equal(0, p.RotZ);
        }
        Assert.Equal(TransformType.Translation, r.Transform);
    }

    [Fact]
    public void EulerAnglesAndNearestRotationInvertTheConstruction()
    {
        var c = new[] { 10.0, -20, 30 };
        var p = new[] { 1.0, -2, 3, 2.5, -1.5, 3.0 };
        var m = BoldSeries.Motion(p, c);
        var par = MotionCorrection.Parameters(new[] { m }, c, TransformType.Rigid, 50, 80)[0];
        Assert.Equal(1.0, par.TransX, 9);
        Assert.Equal(-2.0, par.TransY, 9);
        Assert.Equal(3.0, par.TransZ, 9);
        Assert.Equal(2.5 * Math.PI / 180, par.RotX, 12);
        Assert.Equal(-1.5 * Math.PI / 180, par.RotY, 12);
        Assert.Equal(3.0 * Math.PI / 180, par.RotZ, 12);
        // An affine with a scale: the rotation of its polar decomposition is the rigid part's.
        var scaled = m * Matrix4.Translation(c[0], c[1], c[2]) * Matrix4.Scaling(1.03, 0.98, 1.01) * Matrix4.Translation(-c[0], -c[1], -c[2]);
        var pa = MotionCorrection.Parameters(new[] { scaled }, c, TransformType.Affine, 50, 80)[0];
        Assert.Equal(par.RotX, pa.RotX, 10);
        Assert.Equal(par.RotY, pa.RotY, 10);
        Assert.Equal(par.RotZ, pa.RotZ, 10);
    }

    [Fact]
    public void BadInputsNameTheProblem()
    {
        var s = Short.Value;
        var single = s.Image.Volume(0);
        var e1 = Assert.Throws<ArgumentException>(() => MotionCorrection.Register(single, new MotionCorrectionOptions()));
        Assert.Contains("single volume", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => MotionCorrection.Register(s.Image, new MotionCorrectionOptions { Reference = SeriesReference.Index, ReferenceIndex = 8 }));
        Assert.Contains("volumes 0 to 7", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() => MotionCorrection.Register(s.Image, new MotionCorrectionOptions { Transform = TransformType.Similarity }));
        Assert.Contains("Similarity", e3.Message);
        var smallMask = new Image(Grid.Create3D(4, 4, 4), new float[64]);
        var e4 = Assert.Throws<ArgumentException>(() => MotionCorrection.Register(s.Image, new MotionCorrectionOptions { Mask = smallMask }));
        Assert.Contains("reference's grid", e4.Message);
        var e5 = Assert.Throws<ArgumentException>(() => MotionCorrection.Register(s.Image, new MotionCorrectionOptions { Reference = SeriesReference.Image, ReferenceImage = s.Image }));
        Assert.Contains("single 3D volume", e5.Message);
    }

    [Fact]
    public void CancellationStopsTheRun()
    {
        var s = Short.Value;
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p => { if (p.Completed >= 2) cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            MotionCorrection.Register(s.Image, new MotionCorrectionOptions { MaxDegreeOfParallelism = 1 }, progress, cts.Token));
    }

    private sealed class SyncProgress(Action<SeriesProgress> action) : IProgress<SeriesProgress>
    {
        public void Report(SeriesProgress value) => action(value);
    }
}
