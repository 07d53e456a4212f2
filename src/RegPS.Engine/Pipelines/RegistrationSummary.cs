using System.Globalization;

namespace RegPS.Engine.Pipelines;

/// <summary>Where one input of a dataset stands, as read from the derivatives folder.</summary>
public enum SummaryStatus
{
    /// <summary>Complete (sidecar and every output present), registered by the last run that recorded it (or by a run that kept no record).</summary>
    Registered,
    /// <summary>Complete, and the last recorded run found it up to date and skipped it.</summary>
    Skipped,
    /// <summary>Not complete, and the last recorded run failed on it (the error is kept).</summary>
    Failed,
    /// <summary>Not complete and no failure recorded: never run, or its run was killed before it finished.</summary>
    Missing,
}

/// <summary>One input of a finished (or running) dataset run: what was last recorded for it and whether its outputs are complete.</summary>
public sealed class SubjectSummary
{
    public string Subject { get; init; } = "";
    public string? Session { get; init; }
    public string Space { get; init; } = "";
    public SummaryStatus Status { get; init; }

    /// <summary>True when the sidecar reads and every output it lists exists.</summary>
    public bool Complete { get; init; }

    /// <summary>The raw input as a BIDS URI (bids:raw:sub-01/anat/sub-01_T1w.nii.gz), as the sidecar's Sources names it.</summary>
    public string Source { get; init; } = "";

    /// <summary>The input file (full path), when a record or the caller named it.</summary>
    public string? Input { get; init; }

    /// <summary>The last run's message (metrics, why skipped, the error), or what the summary found.</summary>
    public string Message { get; init; } = "";

    /// <summary>The error of the last run, when it failed ("ExceptionType: message").</summary>
    public string? Error { get; init; }

    public double? AffineMutualInformation { get; init; }
    public double? SynFinalCorrelation { get; init; }
    public int? FoldedVoxels { get; init; }
    public double? ElapsedSeconds { get; init; }

    /// <summary>The outputs (full paths) when complete.</summary>
    public IReadOnlyList<string> Outputs { get; init; } = Array.Empty<string>();

    /// <summary>The sidecar (full path) when complete.</summary>
    public string? Sidecar { get; init; }

    /// <summary>When the last record was written (UTC, ISO 8601), and where: host, SLURM job and array task.</summary>
    public string? FinishedUtc { get; init; }
    public string? Host { get; init; }
    public string? SlurmJobId { get; init; }
    public string? SlurmArrayTaskId { get; init; }

    public override string ToString() =>
        $"sub-{Subject}{(Session is null ? "" : " ses-" + Session)} ({Space}): {Status}" + (Status is SummaryStatus.Failed or SummaryStatus.Missing ? $": {Message}" : "");
}

/// <summary>
/// A dataset run summarised from its derivatives folder: one row per input and template space, from the RegPS sidecars
/// (which inputs are complete, their metrics) and the subject records in the log folder (what the last run did: skipped,
/// failed and why), optionally restricted to (and completed with) a given list of inputs, so that inputs with neither a
/// sidecar nor a record show as Missing.
/// </summary>
public sealed class RegistrationSummary
{
    private RegistrationSummary(string root, IReadOnlyList<SubjectSummary> rows)
    {
        OutputRoot = root;
        Subjects = rows;
    }

    public string OutputRoot { get; }
    public IReadOnlyList<SubjectSummary> Subjects { get; }
    public int Total => Subjects.Count;
    public int Done => Subjects.Count(s => s.Complete);
    public int Registered => Count(SummaryStatus.Registered);
    public int Skipped => Count(SummaryStatus.Skipped);
    public int Failed => Count(SummaryStatus.Failed);
    public int Missing => Count(SummaryStatus.Missing);

    /// <summary>The rows that failed, with their errors.</summary>
    public IReadOnlyList<SubjectSummary> Failures => Subjects.Where(s => s.Status == SummaryStatus.Failed).ToArray();

    /// <summary>The rows not complete (failed or missing): what a rerun would do.</summary>
    public IReadOnlyList<SubjectSummary> Remaining => Subjects.Where(s => !s.Complete).ToArray();

    private int Count(SummaryStatus s) => Subjects.Count(r => r.Status == s);

    public override string ToString() =>
        $"{Total} inputs: {Done} done ({Registered} registered, {Skipped} skipped), {Failed} failed, {Missing} missing";

    /// <summary>
    /// Reads the derivatives under <paramref name="root"/> and the records in <paramref name="logDirectory"/>.
    /// With <paramref name="inputs"/>, only those inputs are summarised (each at least once, Missing when nothing is
    /// known of it); with <paramref name="space"/>, only that template space.
    /// </summary>
    public static RegistrationSummary Read(string root, string logDirectory, IEnumerable<string>? inputs = null, string? space = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        root = Path.GetFullPath(root);
        if (!Directory.Exists(root))
            throw new DirectoryNotFoundException($"The derivatives folder '{root}' does not exist.");

        // Complete subjects: every RegPS sidecar under sub-*/, keyed by its raw source and space.
        var sidecars = new Dictionary<(string, string), (RegistrationSidecar Sidecar, string Path, bool Complete)>();
        foreach (var dir in Directory.EnumerateDirectories(root, "sub-*"))
            foreach (var file in Directory.EnumerateFiles(dir, "*_desc-preproc_*.json", SearchOption.AllDirectories))
            {
                var s = RegistrationSidecar.TryRead(file);
                if (s is null || s.InputSHA256.Length == 0 || s.Space.Length == 0 || s.Sources.Length == 0) continue;
                bool complete = s.Outputs.Length > 0 && s.Outputs.All(o => File.Exists(Path.Combine(root, o)));
                sidecars[(s.Sources[0], s.Space)] = (s, file, complete);
            }

        var records = new Dictionary<(string, string), SubjectRecord>();
        if (Directory.Exists(logDirectory))
            foreach (var file in Directory.EnumerateFiles(logDirectory, "*_space-*.json"))
                if (SubjectRecord.TryRead(file) is { } r)
                    if (!records.TryGetValue((r.Source, r.Space), out var old) || string.CompareOrdinal(old.FinishedUtc, r.FinishedUtc) < 0)
                        records[(r.Source, r.Space)] = r;

        var keys = sidecars.Keys.Concat(records.Keys).Distinct().Where(k => space is null || k.Item2 == space).ToList();
        var given = new Dictionary<string, string>(StringComparer.Ordinal);   // source -> input path
        List<(string Source, string Space, string? Input)> wanted;
        if (inputs is null)
        {
            wanted = keys.Select(k => (k.Item1, k.Item2, (string?)null)).ToList();
        }
        else
        {
            wanted = new();
            foreach (var input in inputs)
            {
                var full = Path.GetFullPath(input);
                string source;
                try { source = BidsSources.RawUri(BidsName.Parse(full)); }
                catch (ArgumentException) { source = Path.GetFileName(full); }
                if (!given.TryAdd(source, full)) continue;
                var spaces = keys.Where(k => k.Item1 == source).Select(k => k.Item2).ToList();
                if (spaces.Count == 0) spaces.Add(space ?? "");
                foreach (var sp in spaces) wanted.Add((source, sp, full));
            }
        }

        var raw = RawRoot(root);
        var rows = new List<SubjectSummary>();
        foreach (var (source, sp, input) in wanted)
        {
            sidecars.TryGetValue((source, sp), out var sc);
            records.TryGetValue((source, sp), out var rec);
            // Where the input is: as given, as the last run saw it, or the raw dataset named in dataset_description.json.
            var file = input ?? rec?.Input ?? (raw is not null && source.StartsWith("bids:raw:", StringComparison.Ordinal)
                ? Path.GetFullPath(Path.Combine(raw, source["bids:raw:".Length..])) : null);
            rows.Add(Row(root, source, sp, file, sc.Sidecar is null ? null : sc, rec));
        }
        rows.Sort((a, b) => string.CompareOrdinal(a.Source, b.Source) is var c && c != 0 ? c : string.CompareOrdinal(a.Space, b.Space));
        return new RegistrationSummary(root, rows);
    }

    private static SubjectSummary Row(string root, string source, string space, string? input,
        (RegistrationSidecar Sidecar, string Path, bool Complete)? sc, SubjectRecord? rec)
    {
        bool complete = sc is { Complete: true };
        var (subject, session) = Names(source, rec);
        SummaryStatus status;
        string message;
        if (complete)
        {
            // The record speaks for the sidecar only if it is not older than the sidecar's run.
            bool current = rec is not null && rec.Status != SubjectStatus.Failed
                && string.CompareOrdinal(rec.FinishedUtc, sc!.Value.Sidecar.StartTimeUtc) >= 0;
            status = current && rec!.Status == SubjectStatus.Skipped ? SummaryStatus.Skipped : SummaryStatus.Registered;
            message = current ? rec!.Message : Metrics(sc!.Value.Sidecar);
        }
        else if (rec is { Status: SubjectStatus.Failed })
        {
            status = SummaryStatus.Failed;
            message = rec.Message;
        }
        else
        {
            status = SummaryStatus.Missing;
            message = sc is not null ? "incomplete: outputs listed in the sidecar are missing"
                : rec is not null ? $"the last recorded run said {rec.Status}, but the sidecar is gone"
                : "no sidecar and no record: not run yet, or its run was stopped before it finished";
        }
        var s = sc?.Sidecar;
        return new SubjectSummary
        {
            Subject = subject,
            Session = session,
            Space = space,
            Status = status,
            Complete = complete,
            Source = source,
            Input = input ?? rec?.Input,
            Message = message,
            Error = status == SummaryStatus.Failed ? (rec!.ErrorType is { } t ? $"{t}: {rec.Message}" : rec.Message) : null,
            AffineMutualInformation = s?.AffineMutualInformation ?? rec?.AffineMutualInformation,
            SynFinalCorrelation = s?.SynFinalCorrelation ?? rec?.SynFinalCorrelation,
            FoldedVoxels = s?.FoldedVoxels ?? rec?.FoldedVoxels,
            ElapsedSeconds = s?.ElapsedSeconds ?? rec?.ElapsedSeconds,
            Outputs = complete ? s!.Outputs.Select(o => Path.GetFullPath(Path.Combine(root, o))).ToArray() : Array.Empty<string>(),
            Sidecar = complete ? sc!.Value.Path : null,
            FinishedUtc = rec?.FinishedUtc,
            Host = rec?.Host,
            SlurmJobId = rec?.SlurmJobId,
            SlurmArrayTaskId = rec?.SlurmArrayTaskId,
        };
    }

    /// <summary>The raw dataset's folder from dataset_description.json's DatasetLinks.raw (a file: URI), or null.</summary>
    private static string? RawRoot(string root)
    {
        try
        {
            var path = Path.Combine(root, DatasetDescription.FileName);
            if (!File.Exists(path)) return null;
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
            if (doc.RootElement.TryGetProperty("DatasetLinks", out var links) && links.TryGetProperty("raw", out var raw)
                && raw.GetString() is { } s && Uri.TryCreate(s, UriKind.Absolute, out var uri) && uri.IsFile)
                return uri.LocalPath;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException or UnauthorizedAccessException or InvalidOperationException) { }
        return null;
    }

    private static (string Subject, string? Session) Names(string source, SubjectRecord? rec)
    {
        if (rec is not null && rec.Subject.Length > 0) return (rec.Subject, rec.Session);
        var file = source.Split('/')[^1];
        try
        {
            var n = BidsName.Parse(file);
            return (n.Subject, n.Session);
        }
        catch (ArgumentException) { return ("", null); }
    }

    private static string Metrics(RegistrationSidecar s) => s.SynFinalCorrelation is { } c
        ? string.Create(CultureInfo.InvariantCulture, $"MI {s.AffineMutualInformation:0.####}, correlation {c:0.####}, {s.FoldedVoxels} folded")
        : string.Create(CultureInfo.InvariantCulture, $"MI {s.AffineMutualInformation:0.####}");
}
