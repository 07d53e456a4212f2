namespace RegPS.Engine.Templates;

/// <summary>A TemplateFlow file in the local cache.</summary>
/// <param name="Query">What was asked for.</param>
/// <param name="Path">Full path of the file.</param>
/// <param name="Downloaded">True when this call downloaded it, false when it was already in the cache.</param>
/// <param name="Length">Size in bytes.</param>
/// <param name="Sha256">SHA-256 of the content, lower-case hex.</param>
/// <param name="Source">The URL it was downloaded from; null when it came from the cache.</param>
public sealed record TemplateFile(TemplateQuery Query, string Path, bool Downloaded, long Length, string Sha256, Uri? Source)
{
    public string Name => System.IO.Path.GetFileName(Path);

    /// <summary>
    /// True when the content is known to be what the server sent: downloaded by this call, or found in the cache and
    /// matching the <c>.sha256</c> written at download time. False for files without a checksum (e.g. from the Python client).
    /// </summary>
    public bool ChecksumVerified { get; init; }
}
