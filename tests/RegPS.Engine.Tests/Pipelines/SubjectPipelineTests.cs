using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Pipelines;
using RegPS.Engine.Registration;
using RegPS.Engine.TransformFiles;

namespace RegPS.Engine.Tests.Pipelines;

public class SubjectPipelineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("regps-bidsrun-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private string Root => Path.Combine(_dir, "derivatives", "regps");

    /// <summary>A smooth asymmetric blob on 2 mm voxels (a computed 'brain').</summary>
    private static Image Blob(int n = 20)
    {
        var g = Grid.Create3D(n, n, n, 2, 2, 2);
        var v = new float[g.VoxelCount];
        double c = (n - 1) / 2.0;
        for (int k = 0; k < n; k++) for (int j = 0; j < n; j++) for (int i = 0; i < n; i++)
        {
            double r2 = (i - c) * (i - c) + 0.6 * (j - c - 1) * (j - c - 1) + 1.4 * (k - c) * (k - c);
            v[g.Index(i, j, k)] = (float)(100 * Math.Exp(-r2 / (2 * 16.0)) + (i > c ? 20 * Math.Exp(-r2 / 8.0) : 0));
        }
        return Image.FromVoxels(g, v);
    }

    private static PipelineSettings Settings(Image template, RegistrationMode mode = RegistrationMode.Syn) => new()
    {
        TemplateName = "Blob",
        TemplateHash = ContentHash.OfImage(template),
        Mode = mode,
        // Rigid only: on a smooth blob MI would also reward shrinking it.
        Affine = new AffineOptions { Stages = new[] { TransformType.Translation, TransformType.Rigid }, LevelIterations = new[] { 40, 40 }, Sigmas = new[] { 1.0, 0 }, Factors = new[] { 2, 1 } },
        Syn = new SynOptions { LevelIterations = new[] { 4, 2 }, Radius = 2 },
        MaxDegreeOfParallelism = 1,
        Version = "0.1.0",
    };

    private string WriteSubject(string file, Image image)
    {
        var name = BidsName.Parse(file);
        var dir = Path.Combine(_dir, "sub-" + name.Subject, "anat");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, file);
        NiftiWriter.Write(image, path, overwrite: true);
        return path;
    }

    private static Image Shifted(Image image, double x, double y, double z) =>
        new AffineMap(Matrix4.Translation(x, y, z), image.Grid, image.Grid).Transform(image);

    private sealed class Pictures : IQualityPictures
    {
        public int Calls;
        public Exception? Throw;
        public void WriteOverlay(Image template, Image registered, string path)
        {
            Calls++;
            if (Throw is not null) throw Throw;
            Assert.True(template.Grid.SameAs(registered.Grid));
            File.WriteAllText(path, "overlay");
        }

        public void WriteGrid(DiffeomorphicMap map, Image template, string path)
        {
            Calls++;
            File.WriteAllText(path, "grid");
        }
    }

    [Fact]
    public void RegistersThenSkipsWithoutWritingThenRedoesWithForce()
    {
        var template = Blob();
        var input = WriteSubject("sub-01_T1w.nii.gz", Shifted(template, 2, -1.5, 1));
        var settings = Settings(template);
        var outputs = SubjectOutputs.For(BidsName.Parse(input), Root, "Blob", RegistrationMode.Syn);
        var pictures = new Pictures();
        var reports = new List<SubjectProgress>();

        var r = SubjectPipeline.Run(outputs, template, settings, pictures, false, new SyncProgress(reports.Add));
        Assert.Equal(SubjectStatus.Registered, r.Status);
        Assert.Null(r.Error);
        Assert.Equal("01", r.Subject);
        Assert.Null(r.Session);
        Assert.All(outputs.All, f => Assert.True(File.Exists(f), f));
        Assert.Equal(outputs.All, r.Outputs);
        Assert.Equal(2, pictures.Calls);
        Assert.Contains(reports, p => p.Status.StartsWith("SyN syn: level 2/2", StringComparison.Ordinal));
        Assert.Equal(100, reports[^1].PercentComplete);

        var sidecar = RegistrationSidecar.TryRead(outputs.Sidecar)!;
        Assert.Equal(ContentHash.OfFile(input), sidecar.InputSHA256);
        Assert.Equal(settings.ParameterHash, sidecar.ParametersSHA256);
        Assert.Equal(settings.TemplateHash, sidecar.TemplateSHA256);
        Assert.Equal(new[] { 4, 2 }, sidecar.SynIterationsPerLevel);
        Assert.Equal(new[] { 4, 2 }, sidecar.Parameters.LevelIterations);
        Assert.Equal(0, sidecar.FoldedVoxels);
        Assert.InRange(sidecar.AffineMutualInformation, 0.1, 10);
        Assert.InRange(sidecar.SynFinalCorrelation!.Value, 0.9, 1);
        Assert.Equal(1234, sidecar.SamplingSeed);
        Assert.Equal(outputs.All.Select(outputs.Relative), sidecar.Outputs);
        Assert.True(DateTime.TryParse(sidecar.StartTimeUtc, null, System.Globalization.DateTimeStyles.RoundtripKind, out var started));
        Assert.Equal(DateTimeKind.Utc, started.Kind);
        var registered = NiftiReader.Read(outputs.Image);
        Assert.Equal("float32", registered.DataType);
        Assert.True(registered.Grid.SameAs(template.Grid));
        // The recovered affine undoes the known shift (static world -> moving world = translation by the shift's inverse).
        var composite = TransformFile.Load(outputs.Transform);
        Assert.Equal(2, composite.Steps.Count);
        Assert.IsType<RegPS.Engine.Transforms.DisplacementFieldStep>(composite.Steps[1]);
        var inverse = TransformFile.Load(outputs.InverseTransform);
        Assert.IsType<RegPS.Engine.Transforms.DisplacementFieldStep>(inverse.Steps[0]);
        Assert.Equal(new[] { "bids:raw:sub-01/anat/sub-01_T1w.nii.gz", "bids::" + outputs.Relative(outputs.Transform) }, sidecar.Sources);
        var prealign = Assert.IsType<RegPS.Engine.Transforms.AffineStep>(composite.Steps[0]).Matrix;
        var (tx, ty, tz) = prealign.Apply(0, 0, 0);
        Assert.InRange(tx, -2 - 0.3, -2 + 0.3);
        Assert.InRange(ty, 1.5 - 0.3, 1.5 + 0.3);
        Assert.InRange(tz, -1 - 0.3, -1 + 0.3);

        var times = outputs.All.Select(File.GetLastWriteTimeUtc).ToArray();
        var skipped = SubjectPipeline.Run(outputs, template, settings, pictures, false);
        Assert.Equal(SubjectStatus.Skipped, skipped.Status);
        Assert.Equal("up to date", skipped.Message);
        Assert.Equal(2, pictures.Calls);
        Assert.Equal(times, outputs.All.Select(File.GetLastWriteTimeUtc));

        var forced = SubjectPipeline.Run(outputs, template, settings, pictures, true);
        Assert.Equal(SubjectStatus.Registered, forced.Status);
        Assert.Equal(4, pictures.Calls);
        Assert.All(outputs.All.Zip(times), p => Assert.True(File.GetLastWriteTimeUtc(p.First) >= p.Second));
        Assert.NotEqual(times[^1], File.GetLastWriteTimeUtc(outputs.Sidecar));

        // Other parameters, or a subject whose sidecar went missing (an interrupted run), are done again.
        var other = settings with { Syn = settings.Syn with { LevelIterations = new[] { 3, 2 } } };
        Assert.Equal(SubjectStatus.Registered, SubjectPipeline.Run(outputs, template, other, pictures, false).Status);
        File.Delete(outputs.Sidecar);
        Assert.Equal(SubjectStatus.Registered, SubjectPipeline.Run(outputs, template, other, pictures, false).Status);
        Assert.Equal(SubjectStatus.Skipped, SubjectPipeline.Run(outputs, template, other, pictures, false).Status);
    }

    [Fact]
    public void ACorruptInputFailsAndLeavesNothing()
    {
        var template = Blob();
        var dir = Path.Combine(_dir, "sub-02", "ses-1", "anat");
        Directory.CreateDirectory(dir);
        var input = Path.Combine(dir, "sub-02_ses-1_T1w.nii.gz");
        File.WriteAllBytes(input, new byte[] { 0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7 });
        var outputs = SubjectOutputs.For(BidsName.Parse(input), Root, "Blob", RegistrationMode.Syn);
        var r = SubjectPipeline.Run(outputs, template, Settings(template), new Pictures(), false);
        Assert.Equal(SubjectStatus.Failed, r.Status);
        Assert.IsType<ImageFormatException>(r.Error);
        Assert.Equal("02", r.Subject);
        Assert.Equal("1", r.Session);
        Assert.Empty(r.Outputs);
        Assert.False(Directory.Exists(Path.Combine(Root, "sub-02")));
        Assert.Contains("Failed", r.ToString());
    }

    [Fact]
    public void AFailureWhileWritingRemovesEveryOutputEvenOldOnes()
    {
        var template = Blob();
        var input = WriteSubject("sub-03_T1w.nii.gz", Shifted(template, 1, 0, 0));
        var settings = Settings(template, RegistrationMode.Affine);
        var outputs = SubjectOutputs.For(BidsName.Parse(input), Root, "Blob", RegistrationMode.Affine);
        Assert.Equal(SubjectStatus.Registered, SubjectPipeline.Run(outputs, template, settings, new Pictures(), false).Status);
        var failing = new Pictures { Throw = new IOException("disk full") };
        var r = SubjectPipeline.Run(outputs, template, settings, failing, true);
        Assert.Equal(SubjectStatus.Failed, r.Status);
        Assert.Equal("disk full", r.Message);
        Assert.All(outputs.All, f => Assert.False(File.Exists(f), f));
        Assert.Empty(Directory.GetFiles(Root, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void CancellingInTheMiddleLeavesNothing()
    {
        var template = Blob();
        var input = WriteSubject("sub-04_T1w.nii.gz", Shifted(template, 1, 1, 0));
        var outputs = SubjectOutputs.For(BidsName.Parse(input), Root, "Blob", RegistrationMode.Syn);
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p => { if (p.Status.StartsWith("SyN", StringComparison.Ordinal)) cts.Cancel(); });
        var r = SubjectPipeline.Run(outputs, template, Settings(template), new Pictures(), false, progress, cts.Token);
        Assert.Equal(SubjectStatus.Failed, r.Status);
        Assert.IsAssignableFrom<OperationCanceledException>(r.Error);
        Assert.Equal("cancelled", r.Message);
        Assert.False(Directory.Exists(Path.Combine(Root, "sub-04")));
    }

    [Fact]
    public void TheOutputsDoNotDependOnTheThreadCount()
    {
        var template = Blob(24);
        var input = WriteSubject("sub-05_T1w.nii.gz", Shifted(template, -1.2, 0.7, 0.4));
        var one = SubjectOutputs.For(BidsName.Parse(input), Path.Combine(_dir, "one"), "Blob", RegistrationMode.Syn);
        var two = SubjectOutputs.For(BidsName.Parse(input), Path.Combine(_dir, "two"), "Blob", RegistrationMode.Syn);
        Assert.Equal(SubjectStatus.Registered, SubjectPipeline.Run(one, template, Settings(template), null, false).Status);
        Assert.Equal(SubjectStatus.Registered, SubjectPipeline.Run(two, template, Settings(template) with { MaxDegreeOfParallelism = 3 }, null, false).Status);
        Assert.Equal(File.ReadAllBytes(one.Image), File.ReadAllBytes(two.Image));
        Assert.Equal(File.ReadAllBytes(one.Transform), File.ReadAllBytes(two.Transform));
        // Same parameter hash: the thread count is not a parameter of the result.
        Assert.Equal(RegistrationSidecar.TryRead(one.Sidecar)!.ParametersSHA256, RegistrationSidecar.TryRead(two.Sidecar)!.ParametersSHA256);
    }

    private sealed class SyncProgress(Action<SubjectProgress> action) : IProgress<SubjectProgress>
    {
        public void Report(SubjectProgress value) => action(value);
    }
}
