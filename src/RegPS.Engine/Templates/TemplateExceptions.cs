namespace RegPS.Engine.Templates;

/// <summary>A TemplateFlow download failed. Names the URL, the local file it was meant for, and the problem.</summary>
public sealed class TemplateDownloadException : IOException
{
    public TemplateDownloadException(Uri url, string localPath, string problem, int? statusCode = null, Exception? inner = null)
        : base($"Downloading {url} to {localPath} failed: {problem}", inner)
    {
        Url = url;
        LocalPath = localPath;
        Problem = problem;
        StatusCode = statusCode;
    }

    public Uri Url { get; }
    public string LocalPath { get; }
    public string Problem { get; }

    /// <summary>The HTTP status when the server answered with an error, e.g. 404.</summary>
    public int? StatusCode { get; }
}

/// <summary>Offline mode is on and the requested file is not in the cache. The message says how to get it there.</summary>
public sealed class TemplateNotFoundOfflineException : FileNotFoundException
{
    public TemplateNotFoundOfflineException(TemplateQuery query, string path, string home)
        : base(BuildMessage(query, path, home), path)
    {
        Query = query;
        Home = home;
    }

    public TemplateQuery Query { get; }
    public string Home { get; }

    private static string BuildMessage(TemplateQuery query, string path, string home) =>
        $"TemplateFlow file not found in the cache and offline mode is on: {path}" + Environment.NewLine +
        "To get it, do one of:" + Environment.NewLine +
        "  - run the same command without -Offline on a machine with internet access (it downloads into the same cache);" + Environment.NewLine +
        $"  - fetch it with the Python client (with TEMPLATEFLOW_HOME={home}): python -c \"from templateflow import api; {query.ToPythonCall()}\";" + Environment.NewLine +
        $"  - copy the file from another TemplateFlow cache to {path}.";
}

/// <summary>
/// A cached file no longer matches the <c>.sha256</c> written beside it when it was downloaded: it was damaged or
/// replaced. Deleting the file and its checksum lets the next call download it again.
/// </summary>
public sealed class TemplateChecksumException : IOException
{
    public TemplateChecksumException(string path, string expected, string actual)
        : base($"{path}: the content does not match the checksum recorded when it was downloaded " +
               $"({TemplateFlowClient.ChecksumPath(path)}: expected {expected}, found {actual}). The file was damaged or replaced; " +
               "delete it and its checksum file to download it again.")
    {
        FilePath = path;
        Expected = expected;
        Actual = actual;
    }

    public string FilePath { get; }
    public string Expected { get; }
    public string Actual { get; }
}
