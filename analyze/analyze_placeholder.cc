// placeholder
namespace provaudit::analyze {}
