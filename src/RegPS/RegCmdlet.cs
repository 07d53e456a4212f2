using System.Management.Automation;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;

namespace RegPS;

/// <summary>
/// The small base every RegPS cmdlet shares: path resolution through PowerShell's providers, errors that name the file,
/// and long engine work run on a worker thread with progress and verbose messages pumped back to the pipeline thread
/// (the only thread allowed to call WriteProgress/WriteVerbose), cancelled by Ctrl+C (StopProcessing).
/// </summary>
public abstract class RegCmdlet : PSCmdlet
{
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Cancelled when the user presses Ctrl+C or the pipeline stops.</summary>
    protected CancellationToken StopToken => _stop.Token;

    protected override void StopProcessing() => _stop.Cancel();

    /// <summary>
    /// Resolves -Path (wildcards) or -LiteralPath items to file-system paths. Paths that match nothing are reported as
    /// non-terminating ObjectNotFound errors; the others are returned.
    /// </summary>
    protected IEnumerable<string> ResolveInputPaths(string[]? paths, bool literal)
    {
        if (paths is null) yield break;
        foreach (var p in paths)
        {
            List<string> resolved = new();
            try
            {
                if (literal)
                {
                    var full = SessionState.Path.GetUnresolvedProviderPathFromPSPath(p, out var provider, out _);
                    if (provider.ImplementingType != typeof(Microsoft.PowerShell.Commands.FileSystemProvider))
                        throw new ArgumentException($"'{p}' is not a file-system path.");
                    if (Directory.Exists(full))
                    {
                        WriteError(new ErrorRecord(new IOException($"'{full}' is a directory, not an image file."),
                            "PathIsDirectory", ErrorCategory.InvalidArgument, full));
                        continue;
                    }
                    if (!File.Exists(full))
                    {
                        WriteError(new ErrorRecord(new FileNotFoundException($"Cannot find the file '{full}'.", full),
                            "FileNotFound", ErrorCategory.ObjectNotFound, p));
                        continue;
                    }
                    resolved.Add(full);
                }
                else
                {
                    var list = GetResolvedProviderPathFromPSPath(p, out var provider);
                    if (provider.ImplementingType != typeof(Microsoft.PowerShell.Commands.FileSystemProvider))
                        throw new ArgumentException($"'{p}' is not a file-system path.");
                    foreach (var f in list)
                    {
                        if (Directory.Exists(f))
                        {
                            WriteError(new ErrorRecord(new IOException($"'{f}' is a directory, not an image file."),
                                "PathIsDirectory", ErrorCategory.InvalidArgument, f));
                            continue;
                        }
                        resolved.Add(f);
                    }
                }
            }
            catch (ItemNotFoundException e)
            {
                WriteError(new ErrorRecord(e, "FileNotFound", ErrorCategory.ObjectNotFound, p));
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException or PSArgumentException)
            {
                WriteError(new ErrorRecord(e, "InvalidPath", ErrorCategory.InvalidArgument, p));
            }
            foreach (var r in resolved) yield return r;
        }
    }

    /// <summary>
    /// Deletes the temporary files that RegPS writes killed mid-way (kill -9, power loss) left in <paramref name="dir"/>
    /// (see AtomicFile.RemoveStaleTemporaries: only its own naming, only files no live writer holds) and says so in -Verbose.
    /// </summary>
    protected void RemoveStaleTemporaries(string dir, bool recursive)
    {
        foreach (var f in Engine.Common.AtomicFile.RemoveStaleTemporaries(dir, recursive))
            WriteVerbose($"Removed '{f}', a temporary file left by an interrupted RegPS write.");
    }

    /// <summary>An output path resolved against the current PowerShell location (PSDrives included), not the process directory.</summary>
    protected string ResolveOutputPath(string path) => SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);

    /// <summary>Reports a failure for one input as a non-terminating error with a stable id and the right category.</summary>
    protected void WriteInputError(Exception e, string errorId, object? target)
    {
        var category = e switch
        {
            ImageFormatException => ErrorCategory.InvalidData,
            FileNotFoundException or DirectoryNotFoundException => ErrorCategory.ObjectNotFound,
            UnauthorizedAccessException => ErrorCategory.PermissionDenied,
            OperationCanceledException => ErrorCategory.OperationStopped,
            ArgumentException => ErrorCategory.InvalidArgument,
            IOException => ErrorCategory.WriteError,
            _ => ErrorCategory.NotSpecified,
        };
        WriteError(new ErrorRecord(e, errorId, category, target));
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a worker thread and pumps its progress reports to Write-Progress (activity
    /// <paramref name="activity"/>) and its messages to Write-Verbose on this thread. Exceptions are rethrown here.
    /// </summary>
    protected T RunEngine<T>(string activity, Func<IProgress<RegistrationProgress>, CancellationToken, T> work, int activityId = 1) =>
        RunWithProgress(activity, work, p => ToRecord(activity, p, activityId), p => p.Message, activityId);

    /// <summary>
    /// The general form: <paramref name="work"/> runs on a worker (see <see cref="WorkPump"/>); each report it makes is
    /// turned into a progress record (at most ten a second) and an optional verbose line on the pipeline thread. Ctrl+C
    /// cancels the worker's token and stops the pipeline once the worker has returned; the work's exceptions are
    /// rethrown here.
    /// </summary>
    protected T RunWithProgress<TProgress, T>(string activity, Func<IProgress<TProgress>, CancellationToken, T> work,
        Func<TProgress, ProgressRecord> toRecord, Func<TProgress, string?> toVerbose, int activityId = 1)
    {
        using var pump = new WorkPump(_stop.Token);
        var last = DateTime.MinValue;
        bool hasPending = false;
        TProgress pending = default!;
        var progress = pump.Reporter<TProgress>(p =>
        {
            if (toVerbose(p) is { } message) WriteVerbose(message);
            pending = p; hasPending = true;
            // Rate-limit the host's progress bar; verbose messages above are never dropped.
            if ((DateTime.UtcNow - last).TotalMilliseconds < 100) return;
            last = DateTime.UtcNow;
            WriteProgress(toRecord(p));
            hasPending = false;
        });
        T result = default!;
        Exception? error = null;
        bool done = false;
        pump.Start(token => result = work(progress, token), e => { error = e; done = true; });
        while (!done) pump.Drain(block: true);
        if (hasPending) WriteProgress(toRecord(pending));
        WriteProgress(new ProgressRecord(activityId, activity, "Done") { RecordType = ProgressRecordType.Completed });
        if (error is OperationCanceledException && _stop.IsCancellationRequested) throw new PipelineStoppedException();
        if (error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        return result;
    }

    private static ProgressRecord ToRecord(string activity, RegistrationProgress p, int id)
    {
        var status = $"{p.Stage}: level {p.Level + 1}/{p.Levels}, iteration {p.Iteration}/{p.MaxIterations}, metric {p.Metric:G6}";
        int percent = p.Levels <= 0 ? -1 : (int)Math.Clamp(100.0 * (p.Level + Math.Min(1.0, p.MaxIterations > 0 ? (double)p.Iteration / p.MaxIterations : 0)) / p.Levels, 0, 100);
        return new ProgressRecord(id, activity, status) { PercentComplete = percent };
    }
}
