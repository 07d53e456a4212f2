using RegPS.Engine.Images;
using RegPS.Engine.Pipelines;
using RegPS.Engine.Registration;

namespace RegPS.Engine.Tests.Pipelines;

public class SidecarAndSkipTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("regps-bids-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static PipelineSettings Settings(string templateHash = "abc") => new()
    {
        TemplateName = "Tiny",
        TemplateHash = templateHash,
        Syn = new SynOptions { LevelIterations = new[] { 10, 5 } },
        Version = "9.8.7",
    };

    [Fact]
    public void TheSidecarRoundTripsThroughJson()
    {
        var s = new RegistrationSidecar
        {
            RegPSVersion = "0.1.0",
            Space = "Tiny",
            Sources = new[] { "bids:raw:sub-01/anat/sub-01_T1w.nii.gz" },
            SpatialReference = "bids:templateflow:tpl-Tiny/tpl-Tiny_T1w.nii.gz",
            InputSHA256 = "00ff",
            TemplateSHA256 = "abc",
            Parameters = SidecarParameters.From(Settings() with { MaxDegreeOfParallelism = 3 }),
            ParameterString = Settings().CanonicalParameters(),
            ParametersSHA256 = Settings().ParameterHash,
            SamplingSeed = 1234,
            AffineMutualInformation = 0.8125,
            AffineIterationsPerLevel = new[] { 3, 2, 1 },
            SynFinalCorrelation = double.NaN,
            SynIterationsPerLevel = new[] { 10, 5 },
            FoldedVoxels = 0,
            ElapsedSeconds = 1.5,
            StartTimeUtc = "2026-01-02T03:04:05.678Z",
            Outputs = new[] { "sub-01/anat/a.nii.gz", "sub-01/anat/a.json" },
        };
        var json = s.ToJson();
        Assert.Contains("\"Mode\": \"Syn\"", json);
        Assert.Contains("\"SynFinalCorrelation\": \"NaN\"", json);
        var back = RegistrationSidecar.FromJson(json);
        Assert.Equal(json, back.ToJson());
        Assert.Equal(RegistrationMode.Syn, back.Parameters.Mode);
        Assert.Equal(new[] { 10, 5 }, back.Parameters.LevelIterations);
        Assert.Equal(3, back.Parameters.MaxDegreeOfParallelism);
        Assert.Equal(s.ParametersSHA256, back.ParametersSHA256);
        Assert.True(double.IsNaN(back.SynFinalCorrelation!.Value));

        var path = Path.Combine(_dir, "s.json");
        s.Write(path);
        Assert.Equal(json, RegistrationSidecar.TryRead(path)!.ToJson());
        File.WriteAllText(path, "{ not json");
        Assert.Null(RegistrationSidecar.TryRead(path));
        Assert.Null(RegistrationSidecar.TryRead(Path.Combine(_dir, "missing.json")));
    }

    [Fact]
    public void TheParameterHashFollowsWhatDecidesTheResultOnly()
    {
        var a = Settings();
        Assert.Equal(a.ParameterHash, (a with { MaxDegreeOfParallelism = 7, Version = "1.0.0", TemplateSource = "/x.nii" }).ParameterHash);
        Assert.NotEqual(a.ParameterHash, (a with { Syn = a.Syn with { LevelIterations = new[] { 10, 6 } } }).ParameterHash);
        // the preset's own settings, each on its own: the early stop and the level left out at 1 mm decide the result too
        Assert.NotEqual(a.ParameterHash, (a with { Syn = a.Syn with { StopAtConvergence = !a.Syn.StopAtConvergence } }).ParameterHash);
        Assert.NotEqual(a.ParameterHash, (a with { Syn = a.Syn with { MinimumOptimizedSpacing = 0 } }).ParameterHash);
        Assert.NotEqual(a.ParameterHash, (a with { Syn = SynOptions.Dipy with { LevelIterations = a.Syn.LevelIterations, Radius = a.Syn.Radius } }).ParameterHash);
        Assert.NotEqual(a.ParameterHash, (a with { Syn = a.Syn with { StepScaling = SynStepScaling.EachIteration } }).ParameterHash);
        Assert.NotEqual(a.ParameterHash, (a with { Syn = a.Syn with { SmoothingTruncate = 4 } }).ParameterHash);
        Assert.NotEqual(a.ParameterHash, (a with { Syn = a.Syn with { ImageLevelInterpolation = RegPS.Engine.Resampling.Interpolation.Linear } }).ParameterHash);
        Assert.NotEqual(a.ParameterHash, (a with { Syn = a.Syn with { Reinversion = SynReinversion.EveryIteration } }).ParameterHash);
        Assert.Equal((a with { Syn = new SynOptions() }).ParameterHash, (a with { Syn = new SynOptions { Reinversion = SynReinversion.ImageLevelLast } }).ParameterHash);
        Assert.NotEqual(a.ParameterHash, (a with { Syn = a.Syn with { StepSmoothing = SynStepSmoothing.Exact } }).ParameterHash);
        Assert.NotEqual(a.ParameterHash, (a with { Syn = a.Syn with { InversionSteps = SynInversionSteps.UntilConverged } }).ParameterHash);
        Assert.Equal((a with { Syn = new SynOptions() }).ParameterHash, (a with { Syn = new SynOptions { InversionSteps = SynInversionSteps.OneOnFinerLevels } }).ParameterHash);
        // no LevelIterations or Radius (the default) hashes as the 3D values they stand for
        Assert.Equal((a with { Syn = new SynOptions() }).ParameterHash, (a with { Syn = new SynOptions { LevelIterations = new[] { 20, 20, 4 } } }).ParameterHash);
        Assert.Equal((a with { Syn = new SynOptions() }).ParameterHash, (a with { Syn = new SynOptions { Radius = 2 } }).ParameterHash);
        Assert.NotEqual((a with { Syn = new SynOptions() }).ParameterHash, (a with { Syn = new SynOptions { Radius = 4 } }).ParameterHash);
        Assert.NotEqual(a.ParameterHash, (a with { Affine = a.Affine with { LevelIterations = new[] { 5, 5, 5 } } }).ParameterHash);
        Assert.NotEqual(a.ParameterHash, (a with { Affine = a.Affine with { Seed = 1 } }).ParameterHash);
        Assert.NotEqual(a.ParameterHash, (a with { Mode = RegistrationMode.Affine }).ParameterHash);
        Assert.NotEqual(a.ParameterHash, (a with { TemplateName = "Other" }).ParameterHash);
        Assert.NotEqual(a.ParameterHash, Settings("abd").ParameterHash);
        // In Affine mode the SyN options do not matter.
        var affine = a with { Mode = RegistrationMode.Affine };
        Assert.Equal(affine.ParameterHash, (affine with { Syn = new SynOptions() }).ParameterHash);
        Assert.Matches("^[0-9a-f]{64}$", a.ParameterHash);
    }

    [Fact]
    public void TheImageHashSeesGridAndVoxelsNotTheSource()
    {
        var g = Grid.Create3D(4, 3, 2, 2, 2, 2);
        var v = Enumerable.Range(0, g.VoxelCount).Select(i => (float)i).ToArray();
        var h = ContentHash.OfImage(Image.FromVoxels(g, v));
        Assert.Equal(h, ContentHash.OfImage(new Image(g, (float[])v.Clone(), sourcePath: "/elsewhere.nii", dataType: "int16")));
        var v2 = (float[])v.Clone(); v2[5] += 1e-3f;
        Assert.NotEqual(h, ContentHash.OfImage(Image.FromVoxels(g, v2)));
        Assert.NotEqual(h, ContentHash.OfImage(Image.FromVoxels(Grid.Create3D(4, 3, 2, 2, 2, 2.0001), (float[])v.Clone())));
        Assert.NotEqual(h, ContentHash.OfImage(Image.FromVoxels(Grid.Create3D(3, 4, 2, 2, 2, 2), (float[])v.Clone())));

        var file = Path.Combine(_dir, "f.bin");
        File.WriteAllText(file, "abc");
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ContentHash.OfFile(file));
    }

    private SubjectOutputs CompleteSubject(string inputHash, string parameterHash)
    {
        var o = SubjectOutputs.For(BidsName.Parse("sub-01_T1w.nii.gz"), Path.Combine(_dir, "deriv"), "Tiny", RegistrationMode.Syn);
        Directory.CreateDirectory(o.AnatDirectory);
        Directory.CreateDirectory(o.FiguresDirectory);
        foreach (var f in o.All) File.WriteAllText(f, "x");
        new RegistrationSidecar { InputSHA256 = inputHash, ParametersSHA256 = parameterHash }.Write(o.Sidecar);
        return o;
    }

    [Fact]
    public void ASubjectIsUpToDateOnlyWithTheSameInputTheSameParametersAndEveryOutput()
    {
        var p = Settings().ParameterHash;
        var o = CompleteSubject("1111", p);
        var d = SkipDecision.Decide(o, "1111", p);
        Assert.True(d.UpToDate, d.Reason);
        Assert.NotNull(d.Sidecar);

        d = SkipDecision.Decide(o, "2222", p);
        Assert.False(d.UpToDate);
        Assert.Contains("input file changed", d.Reason);

        d = SkipDecision.Decide(o, "1111", Settings("other template").ParameterHash);
        Assert.False(d.UpToDate);
        Assert.Contains("parameters changed", d.Reason);

        File.Delete(o.Grid!);
        d = SkipDecision.Decide(o, "1111", p);
        Assert.False(d.UpToDate);
        Assert.Contains("desc-grid_T1w.png is missing", d.Reason);
    }

    [Fact]
    public void ASubjectWithoutAReadableSidecarIsNotUpToDate()
    {
        var p = Settings().ParameterHash;
        var o = CompleteSubject("1111", p);
        File.WriteAllText(o.Sidecar, "[1, 2");
        var d = SkipDecision.Decide(o, "1111", p);
        Assert.False(d.UpToDate);
        Assert.Contains("cannot be read", d.Reason);
        File.Delete(o.Sidecar);
        d = SkipDecision.Decide(o, "1111", p);
        Assert.False(d.UpToDate);
        Assert.Contains("no sidecar", d.Reason);
    }

    [Fact]
    public void TheDatasetDescriptionIsWrittenOnceAndKept()
    {
        var root = Path.Combine(_dir, "deriv2");
        Assert.True(DatasetDescription.EnsureExists(root, "1.2.3"));
        var path = Path.Combine(root, "dataset_description.json");
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!;
        Assert.Equal("RegPS", (string?)node["Name"]);
        Assert.Equal("1.9.0", (string?)node["BIDSVersion"]);
        Assert.Equal("derivative", (string?)node["DatasetType"]);
        Assert.Equal("RegPS", (string?)node["GeneratedBy"]![0]!["Name"]);
        Assert.Equal("1.2.3", (string?)node["GeneratedBy"]![0]!["Version"]);
        Assert.Null(node["SourceDatasets"]);
        Assert.Equal("https://github.com/templateflow/templateflow", (string?)node["DatasetLinks"]!["templateflow"]);
        File.WriteAllText(path, "{\"Name\": \"mine\"}");
        Assert.False(DatasetDescription.EnsureExists(root, "1.2.3"));
        Assert.Equal("{\"Name\": \"mine\"}", File.ReadAllText(path));
    }

    [Fact]
    public void TheDatasetDescriptionNamesTheRawDataset()
    {
        var root = Path.Combine(_dir, "deriv3");
        var raw = Path.Combine(_dir, "raw dataset");
        Assert.True(DatasetDescription.EnsureExists(root, "1.2.3", raw));
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(root, "dataset_description.json")))!;
        var url = (string?)node["SourceDatasets"]![0]!["URL"];
        Assert.Equal(new Uri(raw + "/").AbsoluteUri, url);
        Assert.StartsWith("file://", url);
        Assert.Equal(url, (string?)node["DatasetLinks"]!["raw"]);
    }
}
