using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using RegPS.Engine.IO;
using RegPS.Engine.Common;
using RegPS.Engine.Registration;

namespace RegPS.Engine.Pipelines;

/// <summary>Draws the motion plot of a corrected run (the engine has no renderer; RegPS.Rendering does).</summary>
public interface IMotionPictures
{
    /// <summary>Writes the translations, rotations and framewise displacement over time to <paramref name="path"/>, replacing it.</summary>
    void WriteMotionPlot(MotionCorrectionResult result, string path);
}

/// <summary>
/// The BIDS-derivatives file names of one BOLD run, in the space of the run (fMRIPrep's names):
/// sub-XX[/ses-YY]/func/..._desc-preproc_bold.nii.gz (the motion-corrected series on the run's grid),
/// ..._desc-confounds_timeseries.tsv and .json (the motion parameters and framewise displacement),
/// ..._desc-preproc_bold.json (the sidecar, written last: its presence marks the run complete), and
/// sub-XX/figures/..._desc-motion_bold.png. Every name keeps the input's entities (sub, ses, task, run...).
/// </summary>
public sealed class BoldOutputs
{
    private BoldOutputs(string root, BidsName name, string func, string figures, string image, string sidecar, string confounds, string confoundsSidecar, string plot)
    {
        Root = root;
        Name = name;
        FuncDirectory = func;
        FiguresDirectory = figures;
        Image = image;
        Sidecar = sidecar;
        Confounds = confounds;
        ConfoundsSidecar = confoundsSidecar;
        Plot = plot;
    }

    public string Root { get; }
    public BidsName Name { get; }
    public string FuncDirectory { get; }
    public string FiguresDirectory { get; }

    /// <summary>..._desc-preproc_bold.nii.gz: the corrected series, float32, same grid, TR and units as the input.</summary>
    public string Image { get; }

    /// <summary>..._desc-preproc_bold.json, written last.</summary>
    public string Sidecar { get; }

    /// <summary>..._desc-confounds_timeseries.tsv: trans_x..rot_z (mm, rad) and framewise_displacement per volume.</summary>
    public string Confounds { get; }

    /// <summary>..._desc-confounds_timeseries.json: the columns' descriptions and units.</summary>
    public string ConfoundsSidecar { get; }

    /// <summary>figures/..._desc-motion_bold.png.</summary>
    public string Plot { get; }

    /// <summary>Every output, the sidecar last (the order they are written in).</summary>
    public IReadOnlyList<string> All => new[] { Image, Confounds, ConfoundsSidecar, Plot, Sidecar };

    public string Relative(string path) => System.IO.Path.GetRelativePath(Root, path).Replace('\\', '/');

    /// <summary>The outputs of the BOLD run <paramref name="name"/> under <paramref name="root"/>.</summary>
    /// <exception cref="ArgumentException">The input is not a _bold file.</exception>
    public static BoldOutputs For(BidsName name, string root)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentException.ThrowIfNullOrEmpty(root);
        if (name.Suffix != "bold") throw new ArgumentException($"'{name.Path}' is not a BOLD run (its suffix is _{name.Suffix}, not _bold).");
        var full = System.IO.Path.GetFullPath(root);
        var subjectDir = System.IO.Path.Combine(full, "sub-" + name.Subject);
        var func = name.Session is null ? System.IO.Path.Combine(subjectDir, "func") : System.IO.Path.Combine(subjectDir, "ses-" + name.Session, "func");
        var figures = System.IO.Path.Combine(subjectDir, "figures");
        string[] drop = { "space", "desc", "res", "den" };
        KeyValuePair<string, string> E(string k, string v) => new(k, v);
        string Named(string desc, string suffix, string ext) => name.Compose(new[] { E("desc", desc) }, suffix, ext, drop);
        return new BoldOutputs(full, name, func, figures,
            System.IO.Path.Combine(func, Named("preproc", "bold", ".nii.gz")),
            System.IO.Path.Combine(func, Named("preproc", "bold", ".json")),
            System.IO.Path.Combine(func, Named("confounds", "timeseries", ".tsv")),
            System.IO.Path.Combine(func, Named("confounds", "timeseries", ".json")),
            System.IO.Path.Combine(figures, Named("motion", "bold", ".png")));
    }
}

/// <summary>The sidecar of a motion-corrected run: provenance, hashes for resuming, and the motion summary.</summary>
public sealed class BoldSidecar
{
    public string Description { get; set; } = "";
    public string RegPSVersion { get; set; } = "";
    /// <summary>Always "bold": the series stays in the space (grid) of the run.</summary>
    public string Space { get; set; } = "bold";
    public string[] Sources { get; set; } = Array.Empty<string>();
    public string InputSHA256 { get; set; } = "";
    public string ParameterString { get; set; } = "";
    public string ParametersSHA256 { get; set; } = "";
    public double RepetitionTime { get; set; }
    public int Volumes { get; set; }
    public string MotionReference { get; set; } = "";
    public double MeanFramewiseDisplacement { get; set; }
    public double MaxFramewiseDisplacement { get; set; }
    public int VolumesAboveHalfMillimetre { get; set; }
    public double ElapsedSeconds { get; set; }
    public string StartTimeUtc { get; set; } = "";
    public string[] Outputs { get; set; } = Array.Empty<string>();

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Writes the sidecar atomically (temporary file, then rename).</summary>
    public void Write(string path) => AtomicFile.Write(path, true, s => s.Write(Encoding.UTF8.GetBytes(ToJson())));

    /// <summary>Reads a sidecar, or null when the file is missing or not a readable sidecar.</summary>
    public static BoldSidecar? TryRead(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<BoldSidecar>(File.ReadAllText(path), Json) : null;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return null;
        }
    }
}

/// <summary>
/// Motion-corrects one BIDS BOLD run and writes its derivatives (<see cref="BoldOutputs"/>), as
/// <see cref="SubjectPipeline"/> does for anatomy: skip when the sidecar records the same input and parameter hashes
/// and every output exists; else the old sidecar goes first, every file is written atomically, the sidecar last, and
/// on failure or cancellation every output of the run is removed (and the folders this call created, if left empty).
/// Never throws for the run's own failure: the result says Failed.
/// </summary>
public static class BoldPipeline
{
    /// <summary>The motion-correction settings as a canonical string (what the parameter hash is taken of).</summary>
    public static string CanonicalParameters(MotionCorrectionOptions o, string version) => string.Create(CultureInfo.InvariantCulture,
        $"motion-correction;version={version};transform={o.Transform};metric={o.Metric};reference={o.Reference};passes={o.Passes};smoothing={o.SmoothingSigma:R};samples={o.SampleCount};fd-radius={o.FramewiseRadius:R};rms-radius={o.RmsRadius:R}");

    public static SubjectResult Run(BoldOutputs outputs, MotionCorrectionOptions options, string version, IMotionPictures? pictures,
        bool force, IProgress<SubjectProgress>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(options);
        var name = outputs.Name;
        var input = Path.GetFullPath(name.Path);
        var who = "sub-" + name.Subject + (name.Session is null ? "" : "_ses-" + name.Session) + (name["task"] is { } task ? "_task-" + task : "");
        var clock = Stopwatch.StartNew();
        var start = DateTime.UtcNow;
        bool touched = false;
        var createdDirs = new List<string>();
        void Report(string status, int percent, string? message = null) =>
            progress?.Report(new SubjectProgress(who, status, percent) { Message = message is null ? null : $"{who}: {message}" });
        SubjectResult Result(SubjectStatus status, IReadOnlyList<string> files, string message, Exception? error = null) =>
            new(name.Subject, name.Session, input, status, files, clock.Elapsed, message, error, null);

        try
        {
            Report("hashing the input", 0);
            var inputHash = ContentHash.OfFile(input, ct);
            var parameters = CanonicalParameters(options, version);
            var parameterHash = ContentHash.OfText(parameters);
            if (!force)
            {
                var (upToDate, reason) = Decide(outputs, inputHash, parameterHash);
                if (upToDate)
                {
                    Report("skipped (up to date)", 100, "up to date, skipped");
                    return Result(SubjectStatus.Skipped, outputs.All, reason);
                }
                Report("to do: " + reason, 0, "motion correction: " + reason);
            }

            touched = true;
            if (File.Exists(outputs.Sidecar)) File.Delete(outputs.Sidecar);
            Report("reading", 1, "reading " + input);
            var series = NiftiReader.Read(input, null, ct);
            if (series.Volumes < 2) throw new ArgumentException($"'{input}' has a single volume; a BOLD run needs a 4D series.");
            foreach (var dir in new[] { outputs.FuncDirectory, outputs.FiguresDirectory })
                for (var d = dir; !Directory.Exists(d); d = Path.GetDirectoryName(d)!)
                    createdDirs.Add(d);
            Directory.CreateDirectory(outputs.FuncDirectory);
            Directory.CreateDirectory(outputs.FiguresDirectory);

            var relay = new Relay(p =>
            {
                int percent = 2 + (int)(85.0 * (p.Pass - 1 + (double)p.Completed / Math.Max(1, p.Volumes)) / p.Passes);
                Report($"motion correction, pass {p.Pass}/{p.Passes}: {p.Completed}/{p.Volumes} volumes", percent, p.Message);
            });
            var result = MotionCorrection.Register(series, options, relay, ct);

            Report("writing the corrected series", 88, "writing outputs");
            NiftiWriter.Write(result.Corrected, outputs.Image, NiftiDataType.Float32, overwrite: true, ct);
            MotionParameterFile.Write(result.Parameters, outputs.Confounds, MotionFileFormat.Bids, overwrite: true, ct);
            MotionParameterFile.WriteSidecar(result, outputs.ConfoundsSidecar, overwrite: true, ct);
            ct.ThrowIfCancellationRequested();
            if (pictures is not null)
            {
                Report("drawing the motion plot", 95);
                pictures.WriteMotionPlot(result, outputs.Plot);
            }
            else throw new InvalidOperationException("No motion plot renderer was given.");
            ct.ThrowIfCancellationRequested();

            var sidecar = new BoldSidecar
            {
                Description = $"The BOLD run motion-corrected ({options.Transform.ToString().ToLowerInvariant()}, {options.Metric}, {options.Passes} pass(es), first reference: {result.ReferenceDescription}) and resampled (trilinear) on its own grid, float32.",
                RegPSVersion = version,
                Sources = new[] { BidsSources.RawUri(name) },
                InputSHA256 = inputHash,
                ParameterString = parameters,
                ParametersSHA256 = parameterHash,
                RepetitionTime = result.RepetitionTime,
                Volumes = result.Volumes,
                MotionReference = result.ReferenceDescription,
                MeanFramewiseDisplacement = Math.Round(result.MeanFramewiseDisplacement, 6),
                MaxFramewiseDisplacement = Math.Round(result.MaxFramewiseDisplacement, 6),
                VolumesAboveHalfMillimetre = result.VolumesAbove05mm,
                ElapsedSeconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
                StartTimeUtc = start.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
                Outputs = outputs.All.Select(outputs.Relative).ToArray(),
            };
            sidecar.Write(outputs.Sidecar);
            var summary = string.Create(CultureInfo.InvariantCulture,
                $"{result.Volumes} volumes, mean FD {result.MeanFramewiseDisplacement:0.###} mm, max {result.MaxFramewiseDisplacement:0.###} mm, {result.VolumesAbove05mm} above 0.5 mm");
            Report("done", 100, "motion-corrected: " + summary);
            return Result(SubjectStatus.Registered, outputs.All, summary);
        }
        catch (Exception e)
        {
            if (touched) SubjectPipeline.Clean(outputs.All, createdDirs);
            var message = e is OperationCanceledException ? "cancelled" : e.Message;
            return Result(SubjectStatus.Failed, Array.Empty<string>(), message, e);
        }
    }

    /// <summary>Up to date: the sidecar reads, records the same input and parameter hashes, and every output exists.</summary>
    public static (bool UpToDate, string Reason) Decide(BoldOutputs outputs, string inputHash, string parameterHash)
    {
        var sidecar = BoldSidecar.TryRead(outputs.Sidecar);
        if (sidecar is null)
            return (false, File.Exists(outputs.Sidecar) ? "the sidecar cannot be read" : "no sidecar (not corrected yet, or interrupted)");
        if (!string.Equals(sidecar.InputSHA256, inputHash, StringComparison.OrdinalIgnoreCase))
            return (false, "the input file changed since it was corrected");
        if (!string.Equals(sidecar.ParametersSHA256, parameterHash, StringComparison.OrdinalIgnoreCase))
            return (false, "the parameters changed since it was corrected");
        foreach (var f in outputs.All)
            if (!File.Exists(f)) return (false, $"{outputs.Relative(f)} is missing");
        return (true, "up to date");
    }

    private sealed class Relay(Action<SeriesProgress> action) : IProgress<SeriesProgress>
    {
        public void Report(SeriesProgress value) => action(value);
    }
}
