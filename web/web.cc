// placeholder so the stage library is never empty
namespace provaudit::web {}
