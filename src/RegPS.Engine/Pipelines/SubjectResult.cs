using System.Globalization;

namespace RegPS.Engine.Pipelines;

/// <summary>What happened to one input of the dataset pipeline.</summary>
public enum SubjectStatus
{
    /// <summary>Registered now; every output was (re)written.</summary>
    Registered,
    /// <summary>Already up to date (same input, same parameters, all outputs present); nothing was written.</summary>
    Skipped,
    /// <summary>Could not be registered (unreadable input, registration error, cancelled); none of its outputs remain.</summary>
    Failed,
}

/// <summary>The outcome for one input: which subject and session, the status, the files, the time taken and why.</summary>
public sealed class SubjectResult
{
    public SubjectResult(string subject, string? session, string input, SubjectStatus status, IReadOnlyList<string> outputs,
        TimeSpan elapsed, string message, Exception? error = null, RegistrationSidecar? sidecar = null)
    {
        Subject = subject;
        Session = session;
        Input = input;
        Status = status;
        Outputs = outputs;
        Elapsed = elapsed;
        Message = message;
        Error = error;
        Sidecar = sidecar;
    }

    /// <summary>The subject label (without "sub-").</summary>
    public string Subject { get; }

    /// <summary>The session label (without "ses-"), or null.</summary>
    public string? Session { get; }

    /// <summary>The input file (full path).</summary>
    public string Input { get; }

    public SubjectStatus Status { get; }

    /// <summary>The subject's output files (full paths): written when Registered, already there when Skipped, none when Failed.</summary>
    public IReadOnlyList<string> Outputs { get; }

    public TimeSpan Elapsed { get; }

    /// <summary>A short explanation: the metrics when registered, why it was skipped, or the error.</summary>
    public string Message { get; }

    /// <summary>The failure, when Failed.</summary>
    public Exception? Error { get; }

    /// <summary>The sidecar written (Registered) or found (Skipped).</summary>
    public RegistrationSidecar? Sidecar { get; }

    public override string ToString()
    {
        // An input whose name could not be parsed has no subject: name the file instead.
        var who = Subject.Length == 0 ? System.IO.Path.GetFileName(Input) : "sub-" + Subject + (Session is null ? "" : " ses-" + Session);
        var seconds = Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);
        return Status switch
        {
            SubjectStatus.Registered => $"{who}: Registered in {seconds} s, {Outputs.Count} files ({Message})",
            SubjectStatus.Skipped => $"{who}: Skipped ({Message})",
            _ => $"{who}: Failed after {seconds} s: {Message}",
        };
    }
}
