using System.Diagnostics;
using System.Globalization;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;
using RegPS.Engine.TransformFiles;

namespace RegPS.Engine.Pipelines;

/// <summary>Draws the QC pictures of a subject (the engine has no renderer; RegPS.Rendering does).</summary>
public interface IQualityPictures
{
    /// <summary>Writes a stereo overlay of the template and the registered image (same grid) to <paramref name="path"/>, replacing it.</summary>
    void WriteOverlay(Image template, Image registered, string path);

    /// <summary>Writes a deformation grid of <paramref name="map"/> over the template to <paramref name="path"/>, replacing it.</summary>
    void WriteGrid(DiffeomorphicMap map, Image template, string path);
}

/// <summary>A status line for one subject while it runs.</summary>
public sealed record SubjectProgress(string Subject, string Status, int PercentComplete)
{
    /// <summary>A line worth keeping (a stage or level started), for Write-Verbose; null for per-iteration updates.</summary>
    public string? Message { get; init; }
}

/// <summary>
/// Registers one BIDS input to a template and writes its derivatives (<see cref="SubjectOutputs"/>): skip when up to
/// date, else read, affine (then SyN with the affine as prealign), write the image on the template grid (float32), the
/// transform, the QC pictures and, last, the sidecar. Each file is written atomically (temporary file, rename); the old
/// sidecar is removed before anything is rewritten, so a subject without a sidecar is never taken as complete; on any
/// failure or cancellation every output of the subject is removed (and the folders this call created, if left empty),
/// so nothing half-written remains. Never throws for a subject's own failure: the result says Failed.
/// </summary>
public static class SubjectPipeline
{
    public static SubjectResult Run(SubjectOutputs outputs, Image template, PipelineSettings settings, IQualityPictures? pictures,
        bool force, IProgress<SubjectProgress>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(settings);
        var name = outputs.Name;
        var input = Path.GetFullPath(name.Path);
        var who = "sub-" + name.Subject + (name.Session is null ? "" : "_ses-" + name.Session);
        var clock = Stopwatch.StartNew();
        var start = DateTime.UtcNow;
        bool touched = false;
        var createdDirs = new List<string>();
        void Report(string status, int percent, string? message = null) =>
            progress?.Report(new SubjectProgress(who, status, percent) { Message = message is null ? null : $"{who}: {message}" });
        SubjectResult Result(SubjectStatus status, IReadOnlyList<string> files, string message, Exception? error = null, RegistrationSidecar? sidecar = null) =>
            new(name.Subject, name.Session, input, status, files, clock.Elapsed, message, error, sidecar);

        try
        {
            Report("hashing the input", 0);
            var inputHash = ContentHash.OfFile(input, ct);
            var parameterHash = settings.ParameterHash;
            if (!force)
            {
                var decision = SkipDecision.Decide(outputs, inputHash, parameterHash);
                if (decision.UpToDate)
                {
                    Report("skipped (up to date)", 100, "up to date, skipped");
                    return Result(SubjectStatus.Skipped, outputs.All, decision.Reason, null, decision.Sidecar);
                }
                Report("to do: " + decision.Reason, 0, "registering: " + decision.Reason);
            }

            touched = true;
            // From here on the subject is incomplete until the new sidecar lands.
            if (File.Exists(outputs.Sidecar)) File.Delete(outputs.Sidecar);
            Report("reading", 1, "reading " + input);
            var moving = NiftiReader.Read(input, null, ct);
            foreach (var dir in new[] { outputs.AnatDirectory, outputs.FiguresDirectory })
                for (var d = dir; !Directory.Exists(d); d = Path.GetDirectoryName(d)!)
                    createdDirs.Add(d);
            Directory.CreateDirectory(outputs.AnatDirectory);
            Directory.CreateDirectory(outputs.FiguresDirectory);

            int threads = settings.MaxDegreeOfParallelism;
            bool syn = settings.Mode == RegistrationMode.Syn;
            var affineOptions = settings.Affine with { MaxDegreeOfParallelism = threads };
            InputChecks.ForAffine(moving, "moving", affineOptions.MovingMask);
            var affine = AffineRegistration.Register(template, moving, affineOptions,
                StageProgress("affine", 2, syn ? 40 : 85, Report), ct);
            DiffeomorphicMap? warp = null;
            if (syn)
                warp = SynRegistration.Register(template, moving, affine.Affine, settings.Syn with { MaxDegreeOfParallelism = threads },
                    StageProgress("SyN", 40, 85, Report), ct);

            Report("writing the image on the template grid", 86, "writing outputs");
            var registered = warp is not null ? warp.Transform(moving, maxDegree: threads) : affine.Transform(moving, maxDegree: threads);
            NiftiWriter.Write(registered, outputs.Image, NiftiDataType.Float32, overwrite: true, ct);
            Report("writing the transform", 90);
            object map = warp is not null ? warp : affine;
            TransformFile.SaveMap(outputs.Transform, map, inverse: false, overwrite: true);
            TransformFile.SaveMap(outputs.InverseTransform, map, inverse: true, overwrite: true);
            if (outputs.Manifest is not null)
            {
                if (warp is not null) MapFile.Save(warp, outputs.Manifest, overwrite: true, ct);
                else MapFile.Save(affine, outputs.Manifest, overwrite: true);
            }
            ct.ThrowIfCancellationRequested();
            if (pictures is not null)
            {
                Report("drawing the QC pictures", 95);
                pictures.WriteOverlay(template, registered, outputs.Overlay);
                if (warp is not null && outputs.Grid is not null) pictures.WriteGrid(warp, template, outputs.Grid);
            }
            ct.ThrowIfCancellationRequested();

            var sidecar = new RegistrationSidecar
            {
                Description = $"The input registered to {settings.TemplateName} ({(syn ? "affine, then SyN" : "affine")}) and resampled onto the template grid, float32.",
                RegPSVersion = settings.Version,
                Space = settings.TemplateName,
                Sources = new[] { BidsSources.RawUri(name), "bids::" + outputs.Relative(outputs.Transform) },
                SpatialReference = BidsSources.SpatialReference(settings.TemplateName, settings.TemplateSource),
                InputSHA256 = inputHash,
                TemplateSource = settings.TemplateSource,
                TemplateSHA256 = settings.TemplateHash,
                Parameters = SidecarParameters.From(settings with { MaxDegreeOfParallelism = threads }),
                ParameterString = settings.CanonicalParameters(),
                ParametersSHA256 = parameterHash,
                SamplingSeed = affine.Seed ?? settings.Affine.Seed,
                AffineMutualInformation = affine.Metric,
                AffineIterationsPerLevel = affine.IterationsPerLevel,
                SynFinalCorrelation = warp?.FinalCorrelation,
                SynIterationsPerLevel = warp?.IterationsPerLevel,
                FoldedVoxels = warp?.FoldedVoxels,
                ElapsedSeconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
                StartTimeUtc = start.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
                Outputs = outputs.All.Select(outputs.Relative).ToArray(),
            };
            sidecar.Write(outputs.Sidecar);
            var summary = syn
                ? string.Create(CultureInfo.InvariantCulture, $"MI {affine.Metric:0.####}, correlation {warp!.FinalCorrelation:0.####}, {warp.FoldedVoxels} folded")
                : string.Create(CultureInfo.InvariantCulture, $"MI {affine.Metric:0.####}");
            Report("done", 100, "registered: " + summary);
            return Result(SubjectStatus.Registered, outputs.All, summary, null, sidecar);
        }
        catch (Exception e)
        {
            if (touched) Clean(outputs.All, createdDirs);
            var message = e is OperationCanceledException ? "cancelled" : e.Message;
            return Result(SubjectStatus.Failed, Array.Empty<string>(), message, e);
        }
    }

    /// <summary>
    /// Removes every output of an input (<paramref name="files"/>) and the folders in <paramref name="createdDirs"/> that
    /// are left empty; used by this pipeline and BoldPipeline after a failure or Ctrl+C.
    /// </summary>
    internal static void Clean(IEnumerable<string> files, List<string> createdDirs)
    {
        foreach (var f in files)
            try { if (File.Exists(f)) File.Delete(f); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        // Deepest first.
        foreach (var d in createdDirs.Distinct().OrderByDescending(d => d.Length))
            try { if (Directory.Exists(d) && !Directory.EnumerateFileSystemEntries(d).Any()) Directory.Delete(d); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private static IProgress<RegistrationProgress> StageProgress(string stage, int from, int to, Action<string, int, string?> report) =>
        new Relay(p =>
        {
            double within = p.Levels <= 0 ? 0 : Math.Clamp((p.Level + (p.MaxIterations > 0 ? Math.Min(1.0, (double)p.Iteration / p.MaxIterations) : 0)) / p.Levels, 0, 1);
            var status = string.Create(CultureInfo.InvariantCulture,
                $"{stage} {p.Stage}: level {p.Level + 1}/{p.Levels}, iteration {p.Iteration}/{p.MaxIterations}, metric {p.Metric:G6}");
            report(status, from + (int)((to - from) * within), p.Message is null ? null : $"{stage}: {p.Message}");
        });

    /// <summary>Forwards reports synchronously on the reporting thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class Relay(Action<RegistrationProgress> action) : IProgress<RegistrationProgress>
    {
        public void Report(RegistrationProgress value) => action(value);
    }
}
