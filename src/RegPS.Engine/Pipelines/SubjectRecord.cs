using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using RegPS.Engine.Common;

namespace RegPS.Engine.Pipelines;

/// <summary>
/// What the last run did with one input, kept as a small JSON file in a log folder of the derivatives (one file per
/// input and template, replaced atomically by each later run): the status, the message and error of a failure, the
/// metrics, the time, and where it ran (host, process, SLURM job and array task). The sidecar says a subject is done;
/// this record also remembers the failures and skips, which leave no sidecar behind. Read by the run summary.
/// </summary>
public sealed class SubjectRecord
{
    /// <summary>The raw input as the sidecar's Sources names it (bids:raw:sub-01/anat/sub-01_T1w.nii.gz), or its file name outside a BIDS tree.</summary>
    public string Source { get; set; } = "";

    /// <summary>The input file (full path) as the run saw it.</summary>
    public string Input { get; set; } = "";

    public string Subject { get; set; } = "";
    public string? Session { get; set; }

    /// <summary>The template space label.</summary>
    public string Space { get; set; } = "";

    public SubjectStatus Status { get; set; }

    /// <summary>The result's message: the metrics when registered, why it was skipped, or the error.</summary>
    public string Message { get; set; } = "";

    /// <summary>The failure's exception type (Failed only).</summary>
    public string? ErrorType { get; set; }

    /// <summary>The outputs, relative to the derivatives root (none when Failed).</summary>
    public string[] Outputs { get; set; } = Array.Empty<string>();

    public double? AffineMutualInformation { get; set; }
    public double? SynFinalCorrelation { get; set; }
    public int? FoldedVoxels { get; set; }
    public double ElapsedSeconds { get; set; }

    /// <summary>UTC ISO 8601 time the result was recorded.</summary>
    public string FinishedUtc { get; set; } = "";

    public string Host { get; set; } = "";
    public int ProcessId { get; set; }

    /// <summary>SLURM_ARRAY_JOB_ID (or SLURM_JOB_ID) of the run, when it ran under SLURM.</summary>
    public string? SlurmJobId { get; set; }

    /// <summary>SLURM_ARRAY_TASK_ID of the run, when it ran as an array task.</summary>
    public string? SlurmArrayTaskId { get; set; }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>The record of <paramref name="result"/>, registered to <paramref name="space"/> with outputs under <paramref name="root"/>.</summary>
    public static SubjectRecord From(SubjectResult result, string space, string root, DateTime finishedUtc)
    {
        ArgumentNullException.ThrowIfNull(result);
        string source;
        try { source = BidsSources.RawUri(BidsName.Parse(result.Input)); }
        catch (ArgumentException) { source = Path.GetFileName(result.Input); }
        var sidecar = result.Sidecar;
        string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        return new SubjectRecord
        {
            Source = source,
            Input = result.Input,
            Subject = result.Subject,
            Session = result.Session,
            Space = space,
            Status = result.Status,
            Message = result.Message,
            ErrorType = result.Error?.GetType().FullName,
            Outputs = result.Outputs.Select(f => Path.GetRelativePath(root, f).Replace('\\', '/')).ToArray(),
            AffineMutualInformation = sidecar?.AffineMutualInformation,
            SynFinalCorrelation = sidecar?.SynFinalCorrelation,
            FoldedVoxels = sidecar?.FoldedVoxels,
            ElapsedSeconds = Math.Round(result.Elapsed.TotalSeconds, 3),
            FinishedUtc = finishedUtc.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
            Host = Environment.MachineName,
            ProcessId = Environment.ProcessId,
            SlurmJobId = Env("SLURM_ARRAY_JOB_ID") ?? Env("SLURM_JOB_ID"),
            SlurmArrayTaskId = Env("SLURM_ARRAY_TASK_ID"),
        };
    }

    /// <summary>
    /// The record's file in <paramref name="directory"/>: the input's file name without its image extension, then
    /// _space-&lt;label&gt;.json (sub-01_ses-1_T1w_space-MNI152NLin2009cAsym.json).
    /// </summary>
    public static string PathFor(string directory, string input, string space)
    {
        var name = Path.GetFileName(input);
        foreach (var ext in new[] { ".nii.gz", ".nii.bz2", ".nii", ".hdr", ".img" })
            if (name.EndsWith(ext, StringComparison.OrdinalIgnoreCase)) { name = name[..^ext.Length]; break; }
        return Path.Combine(directory, name + "_space-" + space + ".json");
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Writes the record atomically (temporary file, then rename), creating the folder if needed.</summary>
    public void Write(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        AtomicFile.Write(path, overwrite: true, s => s.Write(Encoding.UTF8.GetBytes(ToJson())));
    }

    /// <summary>Reads a record, or null when the file is missing or not a record.</summary>
    public static SubjectRecord? TryRead(string path)
    {
        try
        {
            if (!File.Exists(path)) return null;
            var r = JsonSerializer.Deserialize<SubjectRecord>(File.ReadAllText(path), Json);
            return r is null || r.Source.Length == 0 || r.Space.Length == 0 ? null : r;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return null;
        }
    }
}
