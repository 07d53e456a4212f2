using RegPS.Engine.Tests.TestSupport;
using System.Diagnostics;
using System.Globalization;
using RegPS.Engine.Images;
using RegPS.Engine.Metrics;
using RegPS.Engine.Registration.Affine;
using Xunit.Abstractions;

namespace RegPS.Engine.Tests.Registration.Affine;

/// <summary>
/// The metric's value against DIPY 1.6's own MutualInformationMetric(32) (dense) on the same 2D pair and the same
/// matrices (images rescaled to [0, 1] as DIPY's scale space does before the metric sees them), computed by
/// /usr/bin/python3 at test time. When python3 with DIPY is not installed the test writes why
/// and returns without asserting (CI installs python3-dipy so it always runs there).
/// </summary>
public class DipyMutualInformationTests
{
    private readonly ITestOutputHelper _out;
    public DipyMutualInformationTests(ITestOutputHelper output) => _out = output;

    private const string Script = @"
import sys, json, numpy as np
from dipy.align.imaffine import MutualInformationMetric
from dipy.align.transforms import AffineTransform2D
d = sys.argv[1]
meta = json.load(open(d + '/meta.json'))
s = np.fromfile(d + '/static.raw', dtype='<f4').reshape(meta['sshape'], order='F').astype(np.float64)
m = np.fromfile(d + '/moving.raw', dtype='<f4').reshape(meta['mshape'], order='F').astype(np.float64)
# As AffineRegistration.optimize does at its finest level (IsotropicScaleSpace): rescaled to [0, 1], stored as float32.
s = ((s - s.min()) / (s.max() - s.min())).astype(np.float32)
m = ((m - m.min()) / (m.max() - m.min())).astype(np.float32)
out = []
for mat in meta['matrices']:
    metric = MutualInformationMetric(32, None)
    metric.setup(AffineTransform2D(), s, m, np.array(meta['saff'], dtype=np.float64), np.array(meta['maff'], dtype=np.float64))
    a = np.array(mat, dtype=np.float64)
    out.append(-metric.distance(np.array([a[0,0], a[0,1], a[0,2], a[1,0], a[1,1], a[1,2]])))
print(json.dumps(out))
";

    // Skipped (and said so) without /usr/bin/python3 + DIPY; under CI, which installs python3-dipy, it always runs.
    [PythonFact("dipy")]
    public void MutualInformation_EqualsDipyValue()
    {
        var sg = Grid.Create2D(90, 100);
        var mg = new Grid(80, 96, 1, new Matrix4(new double[] { 1.2, 0, 0, -4, 0, 1.05, 0, 3, 0, 0, 1, 0, 0, 0, 0, 1 }), 2);
        var centre = new[] { 44.5, 49.5, 0 };
        var ph = new Phantom(21, centre, new[] { 36.0, 42, 30 });
        var st = ph.Sample(sg, Matrix4.Identity);
        var mv = ph.Sample(mg, Phantom.Centred(Phantom.RotZ(5), new[] { 2.0, -3, 0 }, centre), v => 1 - 0.5 * v);
        var matrices = new[]
        {
            Matrix4.Identity,
            Phantom.Centred(Phantom.RotZ(5), new[] { 2.0, -3, 0 }, centre),
            Phantom.Centred(Phantom.Mul(Phantom.RotZ(-3), new[] { 1.05, 0.02, 0, 0, 0.97, 0, 0, 0, 1 }), new[] { 1.3, 0.7, 0 }, centre),
        };
        string dir = Path.Combine(Path.GetTempPath(), "regps-mi-dipy-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            WriteRaw(Path.Combine(dir, "static.raw"), st);
            WriteRaw(Path.Combine(dir, "moving.raw"), mv);
            static string M3(Matrix4 m) => $"[[{m[0, 0]:R},{m[0, 1]:R},{m[0, 3]:R}],[{m[1, 0]:R},{m[1, 1]:R},{m[1, 3]:R}],[0,0,1]]";
            File.WriteAllText(Path.Combine(dir, "meta.json"), string.Create(CultureInfo.InvariantCulture,
                $"{{\"sshape\":[90,100],\"mshape\":[80,96],\"saff\":{M3(sg.GridToWorld)},\"maff\":{M3(mg.GridToWorld)},\"matrices\":[{string.Join(",", matrices.Select(M3))}]}}"));
            File.WriteAllText(Path.Combine(dir, "mi.py"), Script);
            var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(Path.Combine(dir, "mi.py"));
            psi.ArgumentList.Add(dir);
            using var p = Process.Start(psi)!;
            string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, stderr);
            var dipy = stdout.Trim().Split('\n').Last().Trim('[', ']', ' ').Split(',').Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray();

            var level = AffinePyramid.Build(st, mv, null, null, 32, 1, 0, null, 1, 0);
            var metric = new MattesMutualInformation(32, level.Static, level.Moving, mg, level.MovingMin, level.MovingMax, null, 0);
            for (int i = 0; i < matrices.Length; i++)
            {
                double ours = metric.Evaluate(mg.WorldToGrid * matrices[i], centre, Span<double>.Empty, false);
                _out.WriteLine($"matrix {i}: RegPS {ours:R}, DIPY {dipy[i]:R}");
                Assert.True(Math.Abs(ours - dipy[i]) < 1e-9 * Math.Abs(dipy[i]), $"matrix {i}: RegPS {ours}, DIPY {dipy[i]}");
            }
            Assert.True(dipy[1] > dipy[0] && dipy[1] > dipy[2], "the true matrix should have the highest MI");
        }
        finally { Directory.Delete(dir, true); }
    }

    private static void WriteRaw(string path, Image image)
    {
        var bytes = new byte[image.Voxels.Length * 4];
        Buffer.BlockCopy(image.ToArray(), 0, bytes, 0, bytes.Length);
        File.WriteAllBytes(path, bytes);
    }
}
