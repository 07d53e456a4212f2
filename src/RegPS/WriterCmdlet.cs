using System.Management.Automation;

namespace RegPS;

/// <summary>
/// Base of every cmdlet that writes a file: -Path/-LiteralPath, -Force, -WhatIf/-Confirm, and the FileInfo written.
/// The engine writers themselves write to a temporary file and rename it, so a failure or Ctrl+C leaves nothing behind.
/// </summary>
public abstract class WriterCmdlet : RegCmdlet
{
    /// <summary>The file to write, resolved against the current PowerShell location.</summary>
    /// <remarks>Binds from the pipeline by property name so a delay-bind script block (-Path { ... $_.Name ... }) is
    /// evaluated for each input.</remarks>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path", ValueFromPipelineByPropertyName = true)]
    public string Path { get; set; } = "";

    /// <summary>The file to write, used exactly as typed.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    public string LiteralPath { get; set; } = "";

    /// <summary>Whichever of -Path and -LiteralPath was given.</summary>
    protected string TargetPath => ParameterSetName == "LiteralPath" ? LiteralPath : Path;

    /// <summary>Overwrite an existing file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>
    /// Resolves the output path, asks ShouldProcess, refuses to overwrite without -Force, and runs <paramref name="write"/>
    /// with the resolved path and the overwrite flag. Writes the FileInfo on success; a failure is a non-terminating error.
    /// </summary>
    protected void WriteOutputFile(string path, string action, Action<string, bool> write, bool emitFile = true)
    {
        string full;
        try { full = ResolveOutputPath(path); }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteInputError(e, "InvalidOutputPath", path);
            return;
        }
        if (!ShouldProcess(full, action)) return;
        if (File.Exists(full) && !Force)
        {
            WriteError(new ErrorRecord(new IOException($"The file '{full}' already exists. Use -Force to overwrite it."),
                "FileExists", ErrorCategory.ResourceExists, full));
            return;
        }
        try
        {
            var dir = System.IO.Path.GetDirectoryName(full);
            if (!string.IsNullOrEmpty(dir) && !Directory.Exists(dir))
                throw new DirectoryNotFoundException($"The folder '{dir}' does not exist; create it first (New-Item -ItemType Directory).");
            if (!string.IsNullOrEmpty(dir)) RemoveStaleTemporaries(dir, recursive: false);
            write(full, Force);
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteInputError(e, "WriteFailed", full);
            return;
        }
        if (emitFile) WriteObject(new FileInfo(full));
    }
}
