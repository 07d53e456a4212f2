using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;
using RegPS.Engine.TransformFiles;

namespace RegPS.Engine.Tests.TransformFiles;

public class MapFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("regps-map-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static DiffeomorphicMap KnownMap()
    {
        var domain = new Grid(12, 10, 8, Matrix4.Translation(-10, 5, 3) * Matrix4.Scaling(2, 2, 2.5));
        var codomain = new Grid(9, 9, 9, Matrix4.Scaling(-3, 3, 3));
        var f = new float[domain.VoxelCount * 3];
        var b = new float[domain.VoxelCount * 3];
        for (int v = 0; v < domain.VoxelCount; v++)
        {
            f[3 * v] = (float)Math.Sin(v * 0.01); f[3 * v + 1] = 0.5f; f[3 * v + 2] = (float)(v % 7) * 0.1f;
            b[3 * v] = -f[3 * v]; b[3 * v + 1] = -0.5f; b[3 * v + 2] = -f[3 * v + 2];
        }
        var prealign = new Matrix4(new double[] { 1.02, 0.05, 0, 4, -0.03, 0.98, 0.01, -2, 0, 0.02, 1.01, 6, 0, 0, 0, 1 });
        return new DiffeomorphicMap(prealign, domain, codomain, new DisplacementField(domain, f), new DisplacementField(domain, b));
    }

    [Fact]
    public void ADiffeomorphicMapRoundTripsAndWarpsTheSame()
    {
        var map = KnownMap();
        var manifest = Path.Combine(_dir, "sub-01_xfm.json");
        var files = MapFile.Save(map, manifest);
        Assert.Equal(4, files.Count);
        Assert.All(files, f => Assert.True(File.Exists(f)));
        var back = Assert.IsType<DiffeomorphicMap>(MapFile.Load(manifest));
        Assert.True(back.Prealign.MaxAbsDifference(map.Prealign) < 1e-12);
        Assert.True(back.Codomain.SameAs(map.Codomain, 0));
        Assert.Equal(map.Forward.Values.ToArray(), back.Forward.Values.ToArray());
        Assert.Equal(map.Backward.Values.ToArray(), back.Backward.Values.ToArray());
        var rnd = new Random(5);
        var moving = new Image(map.Codomain, Enumerable.Range(0, map.Codomain.VoxelCount).Select(_ => (float)rnd.NextDouble()).ToArray());
        Assert.Equal(map.Transform(moving).ToArray(), back.Transform(moving).ToArray());
    }

    /// <summary>
    /// A saved affine map whose "affine" entry is replaced by <paramref name="entry"/>. Beside the manifest's folder
    /// lies other/evil.mat, a valid transform: if the reader followed the entry, loading would succeed.
    /// </summary>
    private string ManifestPointingAt(string entry, string sub = "maps")
    {
        var d = KnownMap();
        string folder = Path.Combine(_dir, sub);
        Directory.CreateDirectory(folder);
        Directory.CreateDirectory(Path.Combine(_dir, "other"));
        string evil = Path.Combine(_dir, "other", "evil.mat");
        if (!File.Exists(evil)) AffineFile.Write(evil, d.Prealign, 3);
        string manifest = Path.Combine(folder, $"m{Guid.NewGuid():N}.json");
        MapFile.Save(new AffineMap(d.Prealign, d.Domain, d.Codomain), manifest);
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(manifest))!;
        json["affine"] = entry;
        File.WriteAllText(manifest, json.ToJsonString());
        return manifest;
    }

    [Theory]
    [InlineData("../other/evil.mat", "other folders")]
    [InlineData("..\\other\\evil.mat", "other folders")]
    [InlineData("./../other/evil.mat", "other folders")]
    [InlineData("sub/../../other/evil.mat", "other folders")]
    [InlineData("../../../../../../../../etc/passwd", "other folders")]
    [InlineData("/etc/passwd", "absolute path")]
    [InlineData("ABSOLUTE", "absolute path")]
    [InlineData("..", "not a file name")]
    [InlineData("", "not a file name")]
    public void APartOutsideTheManifestsFolderIsRefusedWithoutReadingIt(string entry, string words)
    {
        if (entry == "ABSOLUTE") entry = Path.Combine(_dir, "other", "evil.mat");
        string manifest = ManifestPointingAt(entry);
        var ex = Assert.Throws<ImageFormatException>(() => MapFile.Load(manifest));
        Assert.Equal(manifest, ex.FilePath);
        Assert.Contains("\"affine\"", ex.Problem);
        Assert.Contains($"'{entry}'", ex.Problem);
        Assert.Contains(words, ex.Problem);
        Assert.DoesNotContain("root:", ex.Message);
        Assert.Null(ex.InnerException);
    }

    [Fact]
    public void ALinkOutOfTheFolderIsRefusedAndALinkInsideIsFollowed()
    {
        string manifest = ManifestPointingAt("link.mat");
        string folder = Path.GetDirectoryName(manifest)!;
        File.CreateSymbolicLink(Path.Combine(folder, "link.mat"), Path.Combine(_dir, "other", "evil.mat"));
        var ex = Assert.Throws<ImageFormatException>(() => MapFile.Load(manifest));
        Assert.Contains("'link.mat'", ex.Problem);
        Assert.Contains("link to a file outside", ex.Problem);

        // A relative link to /etc/passwd through ..: refused the same way.
        string m2 = ManifestPointingAt("passwd.mat");
        File.CreateSymbolicLink(Path.Combine(folder, "passwd.mat"), "../../../../../../../../etc/passwd");
        Assert.Contains("link to a file outside", Assert.Throws<ImageFormatException>(() => MapFile.Load(m2)).Problem);

        // A link to a sibling in the same folder stays inside it and is read.
        string m3 = ManifestPointingAt("alias.mat");
        string real = Path.ChangeExtension(m3, null) + "_affine.mat";
        File.CreateSymbolicLink(Path.Combine(folder, "alias.mat"), Path.GetFileName(real));
        Assert.IsType<AffineMap>(MapFile.Load(m3));
    }

    [Fact]
    public void AnEntryThatIsNotAStringIsRefused()
    {
        string manifest = ManifestPointingAt("x");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(manifest))!;
        json["affine"] = new System.Text.Json.Nodes.JsonArray(1, 2);
        File.WriteAllText(manifest, json.ToJsonString());
        var ex = Assert.Throws<ImageFormatException>(() => MapFile.Load(manifest));
        Assert.Contains("\"affine\" must be a file name", ex.Problem);
    }

    [Fact]
    public void AnAffineMapRoundTrips()
    {
        var d = KnownMap();
        var map = new AffineMap(d.Prealign, d.Domain, d.Codomain);
        var manifest = Path.Combine(_dir, "a.json");
        Assert.Equal(2, MapFile.Save(map, manifest).Count);
        var back = Assert.IsType<AffineMap>(MapFile.Load(manifest));
        Assert.True(back.Affine.MaxAbsDifference(map.Affine) < 1e-12);
        Assert.True(back.Domain.SameAs(map.Domain, 0));
    }

    [Fact]
    public void RefusesToOverwriteAndKeepsWhatWasThere()
    {
        var map = KnownMap();
        var manifest = Path.Combine(_dir, "m.json");
        MapFile.Save(map, manifest);
        var before = File.ReadAllBytes(MapFile.PartsFor(manifest).Warp);
        Assert.Throws<IOException>(() => MapFile.Save(map, manifest));
        Assert.Equal(before, File.ReadAllBytes(MapFile.PartsFor(manifest).Warp));
        Assert.Equal(4, Directory.GetFiles(_dir).Length);
    }

    [Fact]
    public void AJsonThatIsNotAMapIsAClearError()
    {
        var p = Path.Combine(_dir, "x.json");
        File.WriteAllText(p, "{\"hello\": 1}");
        Assert.Contains("not a saved RegPS transform", Assert.Throws<ImageFormatException>(() => MapFile.Load(p)).Message);
    }
}
